#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collectives/chunk_channels.h"
#include "comm/stream/stream_socket.h"
#include "ravnest/comm/traffic_counters.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// Reads one ring round's segments from the previous member's ring connection on the ring thread. Uncompressed
/// float32 segments go through a small buffer that stays in cache: each piece is checked for NaN and Inf and
/// added into the partial sums (reduce-scatter) or copied into place (all-gather) right after it was read, so
/// the payload is touched once after the kernel's copy. Other segments are read whole and decoded. A segment
/// that is not the one expected, or carries NaN or Inf, is rejected: the sender is told why before the ring
/// gives up the connection.
class SocketChunkReceiver final : public ChunkReceiver {
 public:
  /// `bounce` is reused across rounds (a fresh buffer would page-fault every round). `waitingFor` names the
  /// previous member in errors and `sender` is its node name for `traffic` (may be null).
  SocketChunkReceiver(StreamSocket& socket, std::vector<uint8_t>& bounce, std::chrono::milliseconds deadline,
                      std::string waitingFor, std::shared_ptr<TrafficCounters> traffic, std::string sender);

  void addInto(const RingTag& tag, at::Tensor& sum, const at::Tensor& addend) override;
  void averageInto(const RingTag& tag, at::Tensor& mean, at::Tensor& scratch, int members) override;
  void copyInto(const RingTag& tag, at::Tensor& target) override;

 private:
  /// Reads the next frame header and checks that it is segment `tag` of `numel` floating-point values.
  TensorMeta readHeader(const RingTag& tag, int64_t numel);
  /// Reads the payload of `meta` into the bounce buffer piece by piece and hands each piece to `consume`.
  template <typename Consume>
  void readPieces(const TensorMeta& meta, Consume consume);
  /// Reads the payload of `meta` whole and decodes it; rejects NaN and Inf.
  at::Tensor readDecoded(const RingTag& tag, const TensorMeta& meta);
  /// Tells the sender `reason`, then throws it as a ProtocolError.
  [[noreturn]] void reject(const std::string& reason);
  void counted(const TensorMeta& meta);

  StreamSocket& socket_;
  std::vector<uint8_t>& bounce_;
  const std::chrono::milliseconds deadline_;
  const std::string waitingFor_;
  const std::shared_ptr<TrafficCounters> traffic_;
  const std::string sender_;
};

}  // namespace ravnest::detail
