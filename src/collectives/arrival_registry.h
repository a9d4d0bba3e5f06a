#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ravnest/comm/peer_server.h"

namespace ravnest::detail {

/// The reduce-scatter buffers of the ring rounds running now, which the transport may reduce received segments
/// into as they arrive (PeerServer::setArrivalPlanner): per ring, the round, its `sums` and `values`. Each
/// segment is handed out once, so a second message claiming the same place cannot write over the first.
/// The targets hold references to the buffers, so a message still arriving after its round gave up writes
/// into memory that stays valid. Thread-safe.
class ArrivalRegistry {
 public:
  explicit ArrivalRegistry(size_t rings) : open_(rings) {}

  /// Lets segments of `round` of ring `ring` be reduced on arrival into sums = values + received.
  void open(size_t ring, uint64_t round, at::Tensor sums, at::Tensor values);
  void close(size_t ring);

  /// The target of reduce-scatter `step`, `segment` of `round`, covering elements [begin, end) of the ring, or
  /// nothing when that round is not open. Throws ProtocolError when that segment was already handed out.
  std::optional<ArrivalReduction> claim(size_t ring, uint64_t round, uint32_t step, uint32_t segment, int64_t begin,
                                        int64_t end);

 private:
  struct OpenRound {
    uint64_t round = 0;
    at::Tensor sums;
    at::Tensor values;
    std::set<std::pair<uint32_t, uint32_t>> claimed;  // (step, segment)
  };

  std::mutex mutex_;
  std::vector<std::optional<OpenRound>> open_;  // per ring
};

}  // namespace ravnest::detail
