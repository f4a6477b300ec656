// One native thread per addon instance that runs every asynchronous kernel, in order.
//
// Why not the libuv pool (Napi::AsyncWorker): consecutive kernels would land on different pool
// threads, each opening its own OpenMP team, and the idle team's spinning threads would compete
// with the busy one for the cores (seen: 40 ms instead of 0.3 ms for a batch-1 forward). One
// thread means one OpenMP team, kernels in submission order, and a JavaScript thread that only
// queues work and settles promises.
#pragma once

#include <napi.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace deepconv {

class Executor {
 public:
  explicit Executor(Napi::Env env);
  ~Executor();  // finishes the kernel in progress, drops the rest (the environment is going away)
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `kernel` (JS thread only). `keep` stays referenced until it has run, so the typed
  // arrays it reads and writes cannot be collected. The promise settles on the JS thread.
  //
  // A GPU job passes `sync`, which waits for the device work the kernel queued. The executor
  // calls it only when no job is waiting behind this one, then settles every GPU job run since
  // the last sync: a pipelined pass keeps the GPU busy instead of waiting after each kernel.
  Napi::Promise submit(Napi::Env env, std::function<void()> kernel, const std::vector<Napi::Value>& keep, int threads,
                       std::function<void()> sync = nullptr);

  // Submitted and not yet settled (JS thread only).
  int pending() const { return pending_; }

 private:
  struct Job {
    std::function<void()> kernel;
    std::function<void()> sync;
    Napi::Promise::Deferred deferred;
    std::vector<Napi::ObjectReference> refs;
    int threads;
    std::string error;
    bool failed = false;
  };
  void loop();
  void finish(Job* job);                          // hands a job to the JS thread to settle
  void sync_and_finish(std::vector<Job*>& jobs);  // waits for the device, then finish() each
  static void settle(Napi::Env env, Napi::Function, Job* job);

  Napi::ThreadSafeFunction done_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  bool stop_ = false;
  int pending_ = 0;  // submitted and not yet settled; JS thread only
};

}  // namespace deepconv
