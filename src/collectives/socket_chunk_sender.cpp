#include "collectives/socket_chunk_sender.h"

#include "comm/stream/stream_wire.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

/// How long a failed writer waits for the reason the receiver may have written before it closed.
constexpr std::chrono::milliseconds kRefusalWait{200};

}  // namespace

SocketChunkSender::SocketChunkSender(std::shared_ptr<StreamSocket> socket, CodecKind codec,
                                     std::chrono::milliseconds deadline, std::shared_ptr<TrafficCounters> traffic,
                                     std::string target, std::function<void()> onFailure)
    : socket_(std::move(socket)),
      codec_(codec),
      deadline_(deadline),
      traffic_(std::move(traffic)),
      target_(std::move(target)),
      queue_(
          1, [this](Segment& segment) { write(segment); }, std::move(onFailure)) {}

void SocketChunkSender::send(const RingTag& tag, const at::Tensor& segment) {
  queue_.push({tag, segment});
}

void SocketChunkSender::finish() {
  queue_.drain();
}

void SocketChunkSender::write(const Segment& segment) {
  const EncodedTensor encoded = encodeTensor(segment.values, codec_);
  const auto header = encodeChunkHeader({segment.tag, encoded.meta});
  const iovec parts[] = {{const_cast<uint8_t*>(header.data()), header.size()},
                         {encoded.bytes.data_ptr(), static_cast<size_t>(encoded.meta.byteCount)}};
  const std::string what = concat("ring ", segment.tag.ringId, " round ", segment.tag.round, " ",
                                  segment.tag.phase == 0 ? "reduce-scatter" : "all-gather", " step ", segment.tag.step,
                                  " segment ", segment.tag.segment);
  try {
    socket_->writeAll(parts, 2, std::chrono::steady_clock::now() + deadline_, "sending " + what);
  } catch (const NetworkError&) {
    const std::string reason = readRefusal(*socket_, std::chrono::steady_clock::now() + kRefusalWait);
    if (reason.empty()) throw;
    throw ProtocolError(concat(target_, " rejected ", what, ": ", reason));
  }
  if (traffic_) traffic_->sentTo.add(target_, header.size() + static_cast<uint64_t>(encoded.meta.byteCount));
}

}  // namespace ravnest::detail
