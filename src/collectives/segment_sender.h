#pragma once

#include "collectives/chunk_channels.h"
#include "common/send_queue.h"
#include "ravnest/comm/message.h"
#include "ravnest/comm/peer_client.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// Sends one ring's segments to the next member as gRPC messages (the transport under TLS) from a few threads,
/// so that a segment's acknowledgement does not hold up the next one and the ring thread never waits for the
/// network while it could reduce. Segments go out in the order they were queued, at most `concurrency` at a
/// time. Thread-safe.
class SegmentSender final : public ChunkSender {
 public:
  SegmentSender(const PeerClient& next, CodecKind codec, int concurrency);

  void send(const RingTag& tag, const at::Tensor& segment) override;
  void finish() override;

 private:
  const PeerClient& next_;
  const CodecKind codec_;
  SendQueue<Message> queue_;  // last: its threads use the members above
};

}  // namespace ravnest::detail
