#include "collectives/segment_sender.h"

namespace ravnest::detail {

SegmentSender::SegmentSender(const PeerClient& next, CodecKind codec, int concurrency) : next_(next), codec_(codec) {
  for (int i = 0; i < concurrency; ++i) threads_.emplace_back([this] { run(); });
}

SegmentSender::~SegmentSender() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    queue_.clear();
  }
  changed_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void SegmentSender::send(const RingTag& tag, const at::Tensor& segment) {
  Message message;
  message.kind = MessageKind::kRingChunk;
  message.ring = tag;
  message.tensors.push_back({"chunk", segment});
  {
    std::lock_guard<std::mutex> lock(mutex_);
    rethrowFailure();
    queue_.push_back(std::move(message));
  }
  changed_.notify_one();
}

void SegmentSender::finish() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return (queue_.empty() && sending_ == 0) || failure_; });
  rethrowFailure();
}

void SegmentSender::rethrowFailure() {
  if (failure_) std::rethrow_exception(failure_);
}

void SegmentSender::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return !queue_.empty() || closing_; });
    if (queue_.empty()) return;
    Message message = std::move(queue_.front());
    queue_.pop_front();
    ++sending_;
    lock.unlock();
    std::exception_ptr failure;
    try {
      next_.send(std::move(message), codec_);
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    --sending_;
    if (failure && !failure_) failure_ = failure;
    // After a failure the rest of the round is pointless: drop what is queued.
    if (failure_) queue_.clear();
    changed_.notify_all();
  }
}

}  // namespace ravnest::detail
