#include "collectives/socket_chunk_sender.h"

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

/// How long a failed writer waits for the reason the receiver may have written before it closed.
constexpr std::chrono::milliseconds kRefusalWait{200};

}  // namespace

SocketChunkSender::SocketChunkSender(std::shared_ptr<RingSocket> socket, CodecKind codec,
                                     std::chrono::milliseconds deadline, std::shared_ptr<TrafficCounters> traffic,
                                     std::string target, std::function<void()> onFailure)
    : socket_(std::move(socket)),
      codec_(codec),
      deadline_(deadline),
      traffic_(std::move(traffic)),
      target_(std::move(target)),
      onFailure_(std::move(onFailure)),
      writer_([this] { run(); }) {}

SocketChunkSender::~SocketChunkSender() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    queue_.clear();
  }
  changed_.notify_all();
  writer_.join();
}

void SocketChunkSender::send(const RingTag& tag, const at::Tensor& segment) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failure_) std::rethrow_exception(failure_);
    queue_.push_back({tag, segment});
  }
  changed_.notify_one();
}

void SocketChunkSender::finish() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return (queue_.empty() && !writing_) || failure_; });
  if (failure_) std::rethrow_exception(failure_);
}

void SocketChunkSender::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return !queue_.empty() || closing_; });
    if (queue_.empty()) return;
    const Segment segment = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    std::exception_ptr failure;
    try {
      write(segment);
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    writing_ = false;
    if (failure) {
      failure_ = failure;
      queue_.clear();
      changed_.notify_all();
      lock.unlock();
      if (onFailure_) onFailure_();
      return;
    }
    changed_.notify_all();
  }
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
