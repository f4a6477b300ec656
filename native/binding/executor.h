// One native thread per addon instance that runs every asynchronous kernel, in order.
//
// Why not the libuv pool (Napi::AsyncWorker): consecutive kernels would land on different pool
// threads, each opening its own OpenMP team, and the idle team's spinning threads would compete
// with the busy one for the cores (seen: 40 ms instead of 0.3 ms for a batch-1 forward). One
// thread means one OpenMP team, kernels in submission order, and a JavaScript thread that only
// queues work and settles promises.
//
// Settling is batched: finished jobs wait until the queue runs dry (or the batch is 1 ms old or
// full), then go to the JS thread in one thread-safe call. Each call that found the JS thread asleep in the
// event loop woke it (a context switch, ~15-25 us on a 2-core VM) only to settle a promise nobody
// awaited yet: a batch-1 forward woke it 2-5 times (bench/NOTES.md, issue 10). The drivers await
// only at barriers and at the end, when the queue drains anyway; the age bound keeps a caller
// whose work ran between another's (a predict() while a Solver trains) from waiting long.
//
// Teardown (worker.terminate(), process exit, environment cleanup): an environment cleanup hook,
// registered after the thread-safe function so that it runs before Node closes that function,
// finishes the kernel in progress, drops the queued ones and their promises, and releases the
// function. Nothing here throws into Node: settling a promise of a dying environment is skipped.
#pragma once

#include <napi.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace deepconv {

class Executor {
 public:
  explicit Executor(Napi::Env env);
  ~Executor();  // shutdown(), if the cleanup hook has not run
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `kernel` (JS thread only). `owned` (host blocks, device memory) stays allocated until
  // the job is done, whatever JavaScript does with the arrays it lent. The promise settles on
  // the JS thread.
  //
  // A GPU job passes `sync`, which waits for the device work the kernel queued. The executor
  // calls it only when no job is waiting behind this one, then settles every GPU job run since
  // the last sync: a pipelined pass keeps the GPU busy instead of waiting after each kernel.
  Napi::Value submit(Napi::Env env, std::function<void()> kernel, std::vector<std::shared_ptr<void>> owned,
                     int threads, std::function<void()> sync = nullptr);

  // Batches handed to the JS thread so far (any thread): how tests see that a long queue settles
  // as it goes, without timing anything.
  uint64_t batches() const { return batches_.load(std::memory_order_relaxed); }
  int pending() const { return pending_; }  // JS thread only

 private:
  struct Job {
    std::function<void()> kernel;
    std::function<void()> sync;
    napi_deferred deferred;
    std::vector<std::shared_ptr<void>> owned;
    int threads;
    std::string error;
    bool failed = false;
    Job* next = nullptr;  // the next job of its settle batch (a list: no allocation to batch)
  };
  void loop();
  void finish(Job* job);                          // adds a done job to the batch to settle
  void flush();                                   // hands the batch to the JS thread
  void sync_and_finish(std::vector<Job*>& jobs);  // waits for the device, then finish() each
  void shutdown();                                // joins the thread, drops queued jobs, releases done_
  static void settle(napi_env env, napi_value, void* context, void* data) noexcept;
  static void on_cleanup(void* self);

  napi_env env_;
  napi_threadsafe_function done_ = nullptr;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  // queue_.size(), readable without the lock: the idle thread watches it for a moment before it
  // sleeps (see loop()).
  std::atomic<size_t> queued_{0};
  static constexpr int kIdleWatchMicros = 200;
  // Done jobs not yet handed over (executor thread only), when the first of them finished, and
  // the most one batch holds or waits: a long pipelined drive still settles as it goes.
  Job* batch_head_ = nullptr;
  Job* batch_tail_ = nullptr;
  size_t batch_size_ = 0;
  std::chrono::steady_clock::time_point batch_start_;
  static constexpr size_t kMaxBatch = 256;
  static constexpr int kMaxBatchMicros = 1000;
  std::atomic<uint64_t> batches_{0};
  bool stop_ = false;
  bool shut_ = false;  // JS thread only
  int pending_ = 0;    // submitted and not yet settled; JS thread only
};

}  // namespace deepconv
