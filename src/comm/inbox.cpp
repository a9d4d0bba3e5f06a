#include "ravnest/comm/inbox.h"

#include <utility>

#include "ravnest/common/error.h"

namespace ravnest {

Inbox::Inbox(size_t capacity) : capacity_(capacity) {
  RAVNEST_CHECK(capacity > 0, "an inbox needs a capacity of at least 1");
}

std::deque<Inbox::SlotGranted> Inbox::grantFreeSlotsLocked() {
  std::deque<SlotGranted> granted;
  while (!waitingReservers_.empty() && queue_.size() + reserved_ < capacity_) {
    ++reserved_;
    granted.push_back(std::move(waitingReservers_.front()));
    waitingReservers_.pop_front();
  }
  return granted;
}

void Inbox::reserve(SlotGranted onGranted) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (closed_) {
    lock.unlock();
    onGranted(false);
    return;
  }
  if (waitingReservers_.empty() && queue_.size() + reserved_ < capacity_) {
    ++reserved_;
    lock.unlock();
    onGranted(true);
    return;
  }
  waitingReservers_.push_back(std::move(onGranted));
}

void Inbox::commit(Message message) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --reserved_;
    queue_.push_back(std::move(message));
  }
  messageQueued_.notify_one();
}

void Inbox::release() {
  std::deque<SlotGranted> granted;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --reserved_;
    granted = grantFreeSlotsLocked();
  }
  for (auto& onGranted : granted) onGranted(true);
}

std::optional<Message> Inbox::pop(std::chrono::milliseconds timeout) {
  std::deque<SlotGranted> granted;
  std::optional<Message> message;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    messageQueued_.wait_for(lock, timeout, [&] { return !queue_.empty() || closed_; });
    if (queue_.empty()) return std::nullopt;
    message = std::move(queue_.front());
    queue_.pop_front();
    granted = grantFreeSlotsLocked();
  }
  for (auto& onGranted : granted) onGranted(true);
  return message;
}

void Inbox::close() {
  std::deque<SlotGranted> refused;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    refused.swap(waitingReservers_);
  }
  messageQueued_.notify_all();
  for (auto& onGranted : refused) onGranted(false);
}

size_t Inbox::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

}  // namespace ravnest
