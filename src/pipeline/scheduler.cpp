#include "ravnest/pipeline/scheduler.h"

#include "ravnest/common/error.h"

namespace ravnest {

Scheduler::Scheduler(size_t forwardCapacity) : forwardCapacity_(forwardCapacity) {
  RAVNEST_CHECK(forwardCapacity > 0, "the forward queue needs room for at least one item");
}

bool Scheduler::pushForward(Message&& work, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  const bool room = forwardRoomFreed_.wait_for(
      lock, timeout, [&] { return closed_ || forward_.size() < forwardCapacity_; });
  if (!room || closed_) return false;
  forward_.push_back(std::move(work));
  workQueued_.notify_one();
  return true;
}

void Scheduler::pushBackward(Message work) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return;
  backward_.push_back(std::move(work));
  workQueued_.notify_one();
}

void Scheduler::pushUrgent(Message work) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return;
  urgent_.push_back(std::move(work));
  workQueued_.notify_one();
}

std::optional<Message> Scheduler::next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  workQueued_.wait_for(lock, timeout,
                       [&] { return closed_ || !urgent_.empty() || !backward_.empty() || !forward_.empty(); });
  for (auto* queue : {&urgent_, &backward_, &forward_}) {
    if (queue->empty()) continue;
    Message work = std::move(queue->front());
    queue->pop_front();
    if (queue == &forward_) forwardRoomFreed_.notify_one();
    return work;
  }
  return std::nullopt;
}

bool Scheduler::closed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return closed_;
}

void Scheduler::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  workQueued_.notify_all();
  forwardRoomFreed_.notify_all();
}

}  // namespace ravnest
