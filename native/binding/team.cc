// Adaptive team size (see team.h).
#include "team.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

#include "deepconv/parallel.h"

namespace deepconv {
namespace {

constexpr double kWindowSeconds = 0.2;
// How much of a core a neighbour has to keep busy before the team gives that core up. Not
// "most of one": while our full team runs, a neighbour that would take a whole core gets only
// its fair share of the cores left (2 cores, our 2 threads and it: 0.67 core; with the
// JavaScript thread busy too, 0.5), and a higher threshold let the team flip back to 2 threads
// every other window (bench/NOTES.md). Brief bursts (a build step, a log rotation) stay below it.
constexpr double kTakesACore = 0.4;

bool adaptive_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("DEEPCONV_ADAPTIVE_THREADS");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

#ifdef __linux__
// Busy and total jiffies of all CPUs together, from the first line of /proc/stat.
bool read_proc_stat(double* busy, double* total) {
  FILE* f = std::fopen("/proc/stat", "re");
  if (!f) return false;
  unsigned long long v[8] = {};
  const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                            &v[5], &v[6], &v[7]);
  std::fclose(f);
  if (n < 4) return false;
  // user nice system idle iowait irq softirq steal: steal is a neighbouring VM holding our vCPU.
  const double idle = double(v[3]) + double(v[4]);
  *busy = double(v[0]) + double(v[1]) + double(v[2]) + double(v[5]) + double(v[6]) + double(v[7]);
  *total = *busy + idle;
  return true;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
#endif

struct Sampler {
  std::mutex mu;
  std::chrono::steady_clock::time_point last_time;
  double last_busy = 0, last_total = 0, last_self = 0;
  bool primed = false;
  std::atomic<int> cores{0};         // 0: no advice yet (use every requested thread)
  std::atomic<double> others{-1.0};  // for team_advice()
};

Sampler& sampler() {
  static Sampler* s = new Sampler();  // never destroyed: read by kernels until the process ends
  return *s;
}

void sample(Sampler& s, std::chrono::steady_clock::time_point now) {
#ifdef __linux__
  double busy, total;
  if (!read_proc_stat(&busy, &total)) return;
  const double self = process_cpu_seconds();
  if (s.primed) {
    const double wall = std::chrono::duration<double>(now - s.last_time).count();
    const int ncpu = hardware_threads();
    if (total > s.last_total && wall > 0) {
      const double busy_cores = ncpu * (busy - s.last_busy) / (total - s.last_total);
      const double others = std::max(0.0, busy_cores - (self - s.last_self) / wall);
      s.others.store(others, std::memory_order_relaxed);
      s.cores.store(std::max(1, ncpu - int(std::floor(others + (1.0 - kTakesACore)))), std::memory_order_relaxed);
    }
  }
  s.last_time = now;
  s.last_busy = busy;
  s.last_total = total;
  s.last_self = self;
  s.primed = true;
#else
  (void)s;
  (void)now;
#endif
}

}  // namespace

int team_size(int requested) {
  if (requested <= 1 || !adaptive_enabled()) return requested;
  Sampler& s = sampler();
  const auto now = std::chrono::steady_clock::now();
  {
    std::unique_lock<std::mutex> lock(s.mu, std::try_to_lock);  // another thread samples: use its advice
    if (lock.owns_lock() && (!s.primed || now - s.last_time >= std::chrono::duration<double>(kWindowSeconds))) {
      sample(s, now);
    }
  }
  const int cores = s.cores.load(std::memory_order_relaxed);
  return cores > 0 ? std::min(requested, cores) : requested;
}

TeamAdvice team_advice() {
  Sampler& s = sampler();
  return {s.others.load(std::memory_order_relaxed), s.cores.load(std::memory_order_relaxed)};
}

}  // namespace deepconv
