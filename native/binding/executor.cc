#include "executor.h"

#include <exception>

#include "binding/common.h"
#include "deepconv/parallel.h"

namespace deepconv {

Executor::Executor(Napi::Env env) {
  // No JavaScript callback: settle() runs as the call_js hook on the JS thread.
  done_ = Napi::ThreadSafeFunction::New(env, Napi::Function(), "deepconv:executor", 0, 1);
  done_.Unref(env);  // only pending work keeps the event loop alive (see submit / settle)
  thread_ = std::thread([this] { loop(); });
}

Executor::~Executor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (Job* job : queue_) {
    for (auto& r : job->refs) r.SuppressDestruct();  // the environment is being torn down
    delete job;
  }
  done_.Release();
}

Napi::Promise Executor::submit(Napi::Env env, std::function<void()> kernel, const std::vector<Napi::Value>& keep,
                               int threads, std::function<void()> sync) {
  auto* job = new Job{std::move(kernel), std::move(sync), Napi::Promise::Deferred::New(env), {}, threads, {}, false};
  for (const auto& v : keep) job->refs.push_back(Napi::Persistent(v.As<Napi::Object>()));
  Napi::Promise promise = job->deferred.Promise();
  if (pending_++ == 0) done_.Ref(env);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(job);
  }
  cv_.notify_one();
  return promise;
}

void Executor::loop() {
  std::vector<Job*> unsynced;  // GPU jobs whose device work may still be running
  for (;;) {
    Job* job;
    bool more;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) {
        lock.unlock();
        sync_and_finish(unsynced);  // let queued device work finish before the context goes
        return;
      }
      job = queue_.front();
      queue_.pop_front();
      more = !queue_.empty();
    }
    if (!job->sync) sync_and_finish(unsynced);  // keep settling in submission order
    try {
      set_num_threads(job->threads);
      job->kernel();
    } catch (const std::exception& e) {
      job->failed = true;
      job->error = e.what();
    } catch (...) {
      job->failed = true;
      job->error = "unknown native error";
    }
    if (!job->sync) {
      finish(job);
      continue;
    }
    unsynced.push_back(job);
    if (!more) sync_and_finish(unsynced);
  }
}

void Executor::sync_and_finish(std::vector<Job*>& jobs) {
  if (jobs.empty()) return;
  std::string error;
  try {
    jobs.back()->sync();  // one stream per addon: the last job's sync covers them all
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown native error";
  }
  for (Job* j : jobs) {
    if (!error.empty() && !j->failed) {
      j->failed = true;
      j->error = error;
    }
    finish(j);
  }
  jobs.clear();
}

void Executor::finish(Job* job) {
  if (done_.NonBlockingCall(job, settle) != napi_ok) {
    // The environment is closing: nobody is left to settle the promise.
    for (auto& r : job->refs) r.SuppressDestruct();
    delete job;
  }
}

void Executor::settle(Napi::Env env, Napi::Function, Job* job) {
  if (env != nullptr) {
    Napi::HandleScope scope(env);
    if (job->failed) {
      job->deferred.Reject(Napi::Error::New(env, "deepconv native: " + job->error).Value());
    } else {
      job->deferred.Resolve(env.Undefined());
    }
    Executor* self = state(env).executor.get();
    if (self && --self->pending_ == 0) self->done_.Unref(env);
  }
  delete job;  // releases the references to the typed arrays
}

}  // namespace deepconv
