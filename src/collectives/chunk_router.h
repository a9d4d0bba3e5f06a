#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include <ATen/core/Tensor.h>

#include "ravnest/comm/inbox.h"

namespace ravnest::detail {

struct ChunkKey {
  uint32_t ringId;
  uint64_t round;
  uint32_t phase;
  uint32_t step;
  uint32_t segment;

  bool operator<(const ChunkKey& other) const {
    return std::tie(ringId, round, phase, step, segment) <
           std::tie(other.ringId, other.round, other.phase, other.step, other.segment);
  }
};

/// Hands the ring chunks of one inbox to the ring threads that wait for them. Chunks arrive in any order
/// across rings; whichever waiting thread finds no one reading the inbox becomes its reader, parks what is not
/// its own and wakes the others (leader/followers: no extra thread, no polling). Thread-safe.
class ChunkRouter {
 public:
  explicit ChunkRouter(Inbox& inbox) : inbox_(inbox) {}

  /// The chunk with `key`. Throws TimeoutError naming `waitingFor` when it has not come by `deadline`.
  at::Tensor take(const ChunkKey& key, std::chrono::steady_clock::time_point deadline, const std::string& waitingFor);

 private:
  Inbox& inbox_;
  std::mutex mutex_;
  std::condition_variable chunkParked_;
  std::map<ChunkKey, at::Tensor> parked_;
  bool reading_ = false;
};

}  // namespace ravnest::detail
