#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

#include "ravnest/comm/message.h"
#include "ravnest/pipeline/schedule_policy.h"

namespace ravnest {

/// The queues of a stage's single compute thread. Which kind of work runs next is the SchedulePolicy's
/// decision; each kind runs in arrival order. Forward work is bounded: producers wait while `forwardCapacity`
/// items are queued, which keeps the back-pressure of the inboxes it is fed from. Backward and control work
/// are not bounded (the root's in-flight limit bounds backward work), so a producer of them never waits and
/// the stages' gradients can always drain. Deferred weight passes (ZB) are not queued here: the compute
/// thread holds them and reports their count. Thread-safe.
class Scheduler {
 public:
  /// One unit of work. A kWeight item carries no message: the compute thread runs its oldest deferred W.
  struct Work {
    WorkKind kind;
    Message message;
  };

  Scheduler(size_t forwardCapacity, SchedulePolicy policy);

  /// Queues forward work; waits up to `timeout` while the forward queue is full. Returns false when the
  /// scheduler is closed or the wait timed out; `work` is then left untouched, so the caller can offer it again.
  bool pushForward(Message&& work, std::chrono::milliseconds timeout);
  /// Queues backward work at once.
  void pushBackward(Message work);
  /// Queues work that runs before everything else.
  void pushUrgent(Message work);
  /// Compute thread: how many weight passes it holds deferred.
  void setDeferredWeight(size_t count);

  /// Waits up to `timeout` for the next work item the policy picks; nullopt on timeout or when closed and
  /// empty.
  std::optional<Work> next(std::chrono::milliseconds timeout);

  /// Wakes every waiter; pushes fail from now on, queued work can still be taken. Idempotent.
  void close();
  bool closed() const;

  const SchedulePolicy& policy() const { return policy_; }

 private:
  ReadyWork readyLocked() const;

  const size_t forwardCapacity_;
  const SchedulePolicy policy_;
  mutable std::mutex mutex_;
  std::condition_variable workQueued_;
  std::condition_variable forwardRoomFreed_;
  std::deque<Message> urgent_;
  std::deque<Message> backward_;
  std::deque<Message> forward_;
  size_t deferredWeight_ = 0;
  bool afterBackward_ = false;  // the last F or B handed out was a B
  bool closed_ = false;
};

}  // namespace ravnest
