#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

#include "ravnest/comm/message.h"

namespace ravnest {

/// Orders a stage's work for its single compute thread: urgent control first (an abort), then backward work,
/// then forward work, each in arrival order (1F1B: a pending backward pass always runs before the next
/// forward pass). Forward work is bounded: producers wait while `forwardCapacity` items are queued, which
/// keeps the back-pressure of the inboxes it is fed from. Backward and control work are not bounded (the
/// root's in-flight limit bounds backward work), so a producer of them never waits and the stages'
/// gradients can always drain. Thread-safe.
class Scheduler {
 public:
  explicit Scheduler(size_t forwardCapacity);

  /// Queues forward work; waits up to `timeout` while the forward queue is full. Returns false when the
  /// scheduler is closed or the wait timed out; `work` is then left untouched, so the caller can offer it again.
  bool pushForward(Message&& work, std::chrono::milliseconds timeout);
  /// Queues backward work at once.
  void pushBackward(Message work);
  /// Queues work that runs before everything else.
  void pushUrgent(Message work);

  /// Waits up to `timeout` for the next work item in priority order; nullopt on timeout or when closed and
  /// empty.
  std::optional<Message> next(std::chrono::milliseconds timeout);

  /// Wakes every waiter; pushes fail from now on, queued work can still be taken. Idempotent.
  void close();
  bool closed() const;

 private:
  const size_t forwardCapacity_;
  mutable std::mutex mutex_;
  std::condition_variable workQueued_;
  std::condition_variable forwardRoomFreed_;
  std::deque<Message> urgent_;
  std::deque<Message> backward_;
  std::deque<Message> forward_;
  bool closed_ = false;
};

}  // namespace ravnest
