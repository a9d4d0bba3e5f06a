#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

#include "ravnest/comm/message.h"

namespace ravnest {

/// A bounded queue of received messages of one kind. Producers first reserve a slot (asynchronously, so a
/// gRPC callback thread never blocks), then commit the message or release the slot. While every slot is
/// taken, reservations wait, and so does the sender on the other side of the network: that is the
/// back-pressure. Consumers pop with a timeout. All methods are thread-safe.
class Inbox {
 public:
  /// Called once with true when a slot is reserved for the caller, or with false when the inbox closed.
  /// Runs on the thread that reserved (slot free at once) or on the thread that freed the slot; it must not
  /// block.
  using SlotGranted = std::function<void(bool granted)>;

  explicit Inbox(size_t capacity);

  /// Reserves a slot now or as soon as one frees up.
  void reserve(SlotGranted onGranted);
  /// Turns a reserved slot into a queued message and wakes one consumer.
  void commit(Message message);
  /// Gives a reserved slot back unused.
  void release();

  /// Waits up to `timeout` for a message. Returns nullopt on timeout, or once the inbox is closed and empty.
  std::optional<Message> pop(std::chrono::milliseconds timeout);

  /// Refuses new reservations (pending ones get false) and wakes every consumer. Queued messages can still
  /// be popped.
  void close();

  size_t size() const;
  size_t capacity() const { return capacity_; }

 private:
  /// Hands free slots to waiting reservers; returns the callbacks to run once the lock is dropped.
  std::deque<SlotGranted> grantFreeSlotsLocked();

  const size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable messageQueued_;
  std::deque<Message> queue_;
  std::deque<SlotGranted> waitingReservers_;
  size_t reserved_ = 0;
  bool closed_ = false;
};

}  // namespace ravnest
