#include "collectives/segment_sender.h"

namespace ravnest::detail {

SegmentSender::SegmentSender(const PeerClient& next, CodecKind codec, int concurrency)
    : next_(next), codec_(codec), queue_(concurrency, [this](Message& message) {
        next_.send(std::move(message), codec_);
      }) {}

void SegmentSender::send(const RingTag& tag, const at::Tensor& segment) {
  Message message;
  message.kind = MessageKind::kRingChunk;
  message.ring = tag;
  message.tensors.push_back({"chunk", segment});
  queue_.push(std::move(message));
}

void SegmentSender::finish() {
  queue_.drain();
}

}  // namespace ravnest::detail
