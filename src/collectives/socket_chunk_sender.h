#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "collectives/chunk_channels.h"
#include "comm/stream/stream_socket.h"
#include "common/send_queue.h"
#include "ravnest/comm/traffic_counters.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// Writes one ring round's segments to the next member's ring connection from a thread of its own, in the
/// order they were queued, straight from the tensors' memory when uncompressed. The ring thread meanwhile reads
/// from the previous member: if all members wrote on their ring threads, a ring of full socket buffers would
/// wait on itself.
class SocketChunkSender final : public ChunkSender {
 public:
  /// `onFailure` runs once on the writer thread when a write fails (the ring stops waiting on its reads).
  /// `traffic` (may be null) counts the bytes written under `target`.
  SocketChunkSender(std::shared_ptr<StreamSocket> socket, CodecKind codec, std::chrono::milliseconds deadline,
                    std::shared_ptr<TrafficCounters> traffic, std::string target, std::function<void()> onFailure);

  void send(const RingTag& tag, const at::Tensor& segment) override;
  void finish() override;

 private:
  struct Segment {
    RingTag tag;
    at::Tensor values;
  };

  /// Encodes `segment` (on the writer thread, so that compression overlaps the ring's reads) and writes it.
  void write(const Segment& segment);

  const std::shared_ptr<StreamSocket> socket_;
  const CodecKind codec_;
  const std::chrono::milliseconds deadline_;
  const std::shared_ptr<TrafficCounters> traffic_;
  const std::string target_;
  SendQueue<Segment> queue_;  // last: its thread uses the members above
};

}  // namespace ravnest::detail
