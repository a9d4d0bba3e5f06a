#include "node/outbox.h"

namespace ravnest::detail {

Outbox::Outbox(PeerLinks& links, int stage) : links_(links), stage_(stage), thread_([this] { runOnSendThread(); }) {}

Outbox::~Outbox() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.clear();
    closing_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Outbox::post(Message message, CodecKind codec) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    throwIfFailedLocked();
    queue_.push_back({std::move(message), codec});
  }
  changed_.notify_all();
}

void Outbox::close() {
  std::unique_lock<std::mutex> lock(mutex_);
  closing_ = true;
  changed_.notify_all();
  changed_.wait(lock, [&] { return failure_ || (queue_.empty() && !sending_); });
  throwIfFailedLocked();
}

void Outbox::throwIfFailedLocked() const {
  if (failure_) std::rethrow_exception(failure_);
}

void Outbox::runOnSendThread() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return closing_ || !queue_.empty(); });
    if (queue_.empty() || failure_) return;  // closing, and everything was sent
    Item item = std::move(queue_.front());
    queue_.pop_front();
    sending_ = true;
    lock.unlock();
    std::exception_ptr failure;
    try {
      links_.send(stage_, std::move(item.message), item.codec);
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    sending_ = false;
    if (failure) failure_ = failure;
    changed_.notify_all();
  }
}

}  // namespace ravnest::detail
