#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <string>

namespace ravnest::detail {

/// Counts the root's training micro-batches between their forward and the end of their backward pass, and
/// makes the feeder wait while `limit` are in flight. A failure of the node wakes every waiter, which then
/// rethrows it. Thread-safe.
class InFlightWindow {
 public:
  /// `backwardSource` names the node the backward passes come from, "node_2 (host:port)", for timeout messages;
  /// empty on a one-node cluster.
  InFlightWindow(std::string nodeName, size_t limit, std::string backwardSource);

  /// Takes a slot, waiting up to `timeout` for one. Throws the node's failure, or TimeoutError.
  void acquire(std::chrono::milliseconds timeout);
  /// Gives a slot back.
  void release();
  /// Waits up to `timeout` until no micro-batch is in flight. Throws the node's failure, or TimeoutError.
  void waitUntilEmpty(std::chrono::milliseconds timeout);
  /// Records why the node stopped (the first failure wins) and wakes every waiter.
  void fail(std::exception_ptr failure);

 private:
  void throwIfFailedLocked() const;

  /// " from node_2 (host:port)", or empty.
  std::string fromSource() const;

  const std::string nodeName_;
  const size_t limit_;
  const std::string backwardSource_;
  mutable std::mutex mutex_;
  std::condition_variable slotFreedOrFailed_;
  size_t inFlight_ = 0;
  std::exception_ptr failure_;
};

}  // namespace ravnest::detail
