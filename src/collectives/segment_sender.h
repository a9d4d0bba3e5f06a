#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "collectives/chunk_channels.h"
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
  /// Drops the queued segments and joins the threads once their current sends end; never throws.
  ~SegmentSender() override;
  SegmentSender(const SegmentSender&) = delete;
  SegmentSender& operator=(const SegmentSender&) = delete;

  void send(const RingTag& tag, const at::Tensor& segment) override;
  /// Waits until every queued segment was delivered; throws the first failure.
  void finish() override;

 private:
  void run();
  void rethrowFailure();

  const PeerClient& next_;
  const CodecKind codec_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Message> queue_;
  int sending_ = 0;
  bool closing_ = false;
  std::exception_ptr failure_;
  std::vector<std::thread> threads_;
};

}  // namespace ravnest::detail
