#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace ravnest::detail {

/// Hands queued items to worker threads that send them in queue order, so that the producer (the compute
/// thread, a ring thread) never waits for the network. At most `workers` items are in flight at once. The first
/// failure drops what is queued and is rethrown to the producer at its next push() or in drain(). Thread-safe.
template <typename Item>
class SendQueue {
 public:
  using Send = std::function<void(Item&)>;

  /// `onFailure` (may be empty) runs once, on the worker whose send failed first, after the failure is kept.
  SendQueue(int workers, Send send, std::function<void()> onFailure = {})
      : send_(std::move(send)), onFailure_(std::move(onFailure)) {
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { runOnWorker(); });
  }

  /// Drops what is still queued and joins the workers once their current sends end; never throws.
  ~SendQueue() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closing_ = true;
      queue_.clear();
    }
    changed_.notify_all();
    for (auto& worker : workers_) worker.join();
  }
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;

  /// Queues `item`. Throws the failure of an earlier send.
  void push(Item item) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (failure_) std::rethrow_exception(failure_);
      queue_.push_back(std::move(item));
    }
    changed_.notify_one();
  }

  /// Waits until every queued item was sent. Throws the first failure.
  void drain() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return failure_ || (queue_.empty() && sending_ == 0); });
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  void runOnWorker() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;
      Item item = std::move(queue_.front());
      queue_.pop_front();
      ++sending_;
      lock.unlock();
      std::exception_ptr failure;
      try {
        send_(item);
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      --sending_;
      const bool first = failure && !failure_;
      if (first) {
        failure_ = failure;
        queue_.clear();  // after a failure the rest is pointless
      }
      changed_.notify_all();
      if (first && onFailure_) {
        lock.unlock();
        onFailure_();
        lock.lock();
      }
    }
  }

  const Send send_;
  const std::function<void()> onFailure_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  int sending_ = 0;
  bool closing_ = false;
  std::exception_ptr failure_;
  std::vector<std::thread> workers_;  // last: started once everything they use exists
};

}  // namespace ravnest::detail
