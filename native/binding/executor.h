// One native thread per addon instance that runs every asynchronous kernel, in order.
//
// Why not the libuv pool (Napi::AsyncWorker): consecutive kernels would land on different pool
// threads, each opening its own OpenMP team, and the idle team's spinning threads would compete
// with the busy one for the cores (seen: 40 ms instead of 0.3 ms for a batch-1 forward). One
// thread means one OpenMP team, kernels in submission order, and a JavaScript thread that only
// queues work and settles promises.
//
// Teardown (worker.terminate(), process exit, environment cleanup): an environment cleanup hook,
// registered after the thread-safe function so that it runs before Node closes that function,
// finishes the kernel in progress, drops the queued ones and their promises, and releases the
// function. Nothing here throws into Node: settling a promise of a dying environment is skipped.
#pragma once

#include <napi.h>

#include <atomic>
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

 private:
  struct Job {
    std::function<void()> kernel;
    std::function<void()> sync;
    napi_deferred deferred;
    std::vector<std::shared_ptr<void>> owned;
    int threads;
    std::string error;
    bool failed = false;
  };
  void loop();
  void finish(Job* job);                          // hands a job to the JS thread to settle
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
  bool stop_ = false;
  bool shut_ = false;  // JS thread only
  int pending_ = 0;    // submitted and not yet settled; JS thread only
};

}  // namespace deepconv
