#include "executor.h"

#include <chrono>
#include <exception>

#include "binding/common.h"
#include "binding/team.h"
#include "deepconv/parallel.h"

namespace deepconv {

Executor::Executor(Napi::Env env) : env_(env) {
  napi_value name;
  if (napi_create_string_utf8(env, "deepconv:executor", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, this, settle, &done_) !=
          napi_ok) {
    throw Napi::Error::New(env, "deepconv native: could not create the executor's thread-safe function");
  }
  // Only pending work keeps the event loop alive (see submit / settle).
  napi_unref_threadsafe_function(env, done_);
  // After the thread-safe function: cleanup hooks run last-registered first.
  napi_add_env_cleanup_hook(env, on_cleanup, this);
  thread_ = std::thread([this] { loop(); });
}

Executor::~Executor() {
  if (!shut_) {
    napi_remove_env_cleanup_hook(env_, on_cleanup, this);
    shutdown();
  }
}

void Executor::on_cleanup(void* self) { static_cast<Executor*>(self)->shutdown(); }

void Executor::shutdown() {
  if (shut_) return;
  shut_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();  // the kernel in progress finishes; device work is waited for
  for (Job* job : queue_) delete job;     // never run: their promises are dropped with the environment
  queue_.clear();
  // Abort: jobs handed over but not yet settled come back to settle() without an environment.
  napi_release_threadsafe_function(done_, napi_tsfn_abort);
}

Napi::Value Executor::submit(Napi::Env env, std::function<void()> kernel, std::vector<std::shared_ptr<void>> owned,
                             int threads, std::function<void()> sync) {
  if (shut_) throw Napi::Error::New(env, "deepconv native: the environment is shutting down");
  napi_value promise;
  napi_deferred deferred;
  if (napi_create_promise(env, &deferred, &promise) != napi_ok) {
    throw Napi::Error::New(env, "deepconv native: could not create a promise");
  }
  auto* job = new Job{std::move(kernel), std::move(sync), deferred, std::move(owned), threads, {}, false};
  if (pending_++ == 0) napi_ref_threadsafe_function(env, done_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(job);
    queued_.store(queue_.size(), std::memory_order_release);
  }
  cv_.notify_one();
  return Napi::Value(env, promise);
}

void Executor::loop() {
  std::vector<Job*> unsynced;  // GPU jobs whose device work may still be running
  for (;;) {
    Job* job;
    bool more;
    // Out of work: watch the queue for a moment (yielding the core) before sleeping. A caller
    // that awaits one call and then makes the next (a batch-1 forward, call after call) finds the
    // thread awake: waking it from the condition variable took ~40 us of an 80 us round trip on
    // a 2-core VM, more than a small kernel's own time.
    if (queued_.load(std::memory_order_acquire) == 0) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kIdleWatchMicros);
      while (queued_.load(std::memory_order_acquire) == 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::yield();
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) {
        lock.unlock();
        sync_and_finish(unsynced);  // let queued device work finish before the context goes
        flush();
        return;
      }
      job = queue_.front();
      queue_.pop_front();
      queued_.store(queue_.size(), std::memory_order_release);
      more = !queue_.empty();
    }
    if (!job->sync) sync_and_finish(unsynced);  // keep settling in submission order
    try {
      set_num_threads(team_size(job->threads));
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
    } else {
      unsynced.push_back(job);
      if (!more) sync_and_finish(unsynced);
    }
    if (batch_head_ != nullptr && unsynced.empty() &&
        (queued_.load(std::memory_order_acquire) == 0 ||
         std::chrono::steady_clock::now() - batch_start_ >= std::chrono::microseconds(kMaxBatchMicros))) {
      flush();
    }
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
  // The kernel is done: its memory can go now, on this thread (freeing a host block or device
  // memory calls no JavaScript).
  job->owned.clear();
  if (batch_head_ == nullptr) {
    batch_head_ = job;
    batch_start_ = std::chrono::steady_clock::now();
  } else {
    batch_tail_->next = job;
  }
  batch_tail_ = job;
  if (++batch_size_ >= kMaxBatch) flush();
}

void Executor::flush() {
  Job* head = batch_head_;
  if (head == nullptr) return;
  batch_head_ = batch_tail_ = nullptr;
  batch_size_ = 0;
  batches_.fetch_add(1, std::memory_order_relaxed);
  if (napi_call_threadsafe_function(done_, head, napi_tsfn_nonblocking) != napi_ok) {
    // The environment is closing: nobody is left to settle the promises.
    while (head != nullptr) {
      Job* next = head->next;
      delete head;
      head = next;
    }
  }
}

// Runs on the JS thread (env set) or, while the thread-safe function is torn down, without an
// environment (env null): then the jobs are only freed. Never throws.
void Executor::settle(napi_env env, napi_value, void* context, void* data) noexcept {
  auto* self = static_cast<Executor*>(context);
  for (Job* job = static_cast<Job*>(data); job != nullptr;) {
    if (env != nullptr) try {
      // A failing call means the environment is going away (a terminated worker): nothing to tell.
      napi_value value = nullptr;
      if (job->failed) {
        napi_value msg;
        if (napi_create_string_utf8(env, ("deepconv native: " + job->error).c_str(), NAPI_AUTO_LENGTH, &msg) == napi_ok &&
            napi_create_error(env, nullptr, msg, &value) == napi_ok) {
          napi_reject_deferred(env, job->deferred, value);
        }
      } else if (napi_get_undefined(env, &value) == napi_ok) {
        napi_resolve_deferred(env, job->deferred, value);
      }
      if (!self->shut_ && --self->pending_ == 0) napi_unref_threadsafe_function(env, self->done_);
    } catch (...) {
      // out of memory for a message: the promise stays pending rather than the process dying
    }
    Job* next = job->next;
    delete job;
    job = next;
  }
}

}  // namespace deepconv
