#include "ravnest/pipeline/scheduler.h"

#include "ravnest/common/error.h"

namespace ravnest {

Scheduler::Scheduler(size_t forwardCapacity, SchedulePolicy policy)
    : forwardCapacity_(forwardCapacity), policy_(policy) {
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

void Scheduler::setDeferredWeight(size_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  deferredWeight_ = count;
}

ReadyWork Scheduler::readyLocked() const {
  return {urgent_.size(), backward_.size(), forward_.size(), deferredWeight_, afterBackward_};
}

std::optional<Scheduler::Work> Scheduler::next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  std::optional<WorkKind> kind;
  workQueued_.wait_for(lock, timeout, [&] {
    kind = policy_.pick(readyLocked());
    return closed_ || kind.has_value();
  });
  if (!kind) return std::nullopt;
  if (*kind == WorkKind::kWeight) return Work{*kind, Message{}};
  if (*kind != WorkKind::kUrgent) afterBackward_ = *kind == WorkKind::kBackward;
  std::deque<Message>& queue =
      *kind == WorkKind::kUrgent ? urgent_ : *kind == WorkKind::kBackward ? backward_ : forward_;
  Work work{*kind, std::move(queue.front())};
  queue.pop_front();
  if (*kind == WorkKind::kForward) forwardRoomFreed_.notify_one();
  return work;
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
