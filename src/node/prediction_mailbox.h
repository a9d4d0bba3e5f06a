#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "ravnest/comm/message.h"

namespace ravnest::detail {

/// Where the root's prediction requests get their answers. The last stage sends the model output of a
/// prediction micro-batch back to the root; the root's compute thread delivers it here and the feeding
/// thread, waiting in take(), picks it up. A failure of the node wakes the waiter, which rethrows it.
/// Thread-safe.
class PredictionMailbox {
 public:
  explicit PredictionMailbox(std::string nodeName);

  /// Hands over the model-output values of micro-batch `id`.
  void deliver(uint64_t id, std::vector<NamedTensor> values);
  /// Waits up to `timeout` for the answer to micro-batch `id` and removes it. Throws the node's failure, or
  /// TimeoutError.
  std::vector<NamedTensor> take(uint64_t id, std::chrono::milliseconds timeout);
  /// Records why the node stopped (the first failure wins) and wakes the waiter.
  void fail(std::exception_ptr failure);

 private:
  const std::string nodeName_;
  std::mutex mutex_;
  std::condition_variable answeredOrFailed_;
  std::map<uint64_t, std::vector<NamedTensor>> answers_;
  std::exception_ptr failure_;
};

}  // namespace ravnest::detail
