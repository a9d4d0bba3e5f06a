#include "comm/grpc/transfer_call.h"

namespace ravnest::detail {

void TransferCall::start() {
  StartCall();
  if (frames_.empty()) {
    StartWritesDone();
  } else {
    writeNext();
  }
}

void TransferCall::writeNext() {
  grpc::ByteBuffer* frame = nullptr;
  bool last = false;
  {
    // The next write is picked on the thread that starts the call, then on whichever gRPC thread completes the
    // previous write. gRPC orders those inside its own (uninstrumented) library; the lock states the hand-off
    // in our code, where ThreadSanitizer sees it. No lock is held while gRPC is called.
    std::lock_guard<std::mutex> lock(mutex_);
    if (nextFrame_ == frames_.size()) return;
    frame = &frames_[nextFrame_++];
    last = nextFrame_ == frames_.size();
  }
  if (last) {
    // The last frame carries the half-close, which saves the server one more read.
    StartWriteLast(frame, grpc::WriteOptions());
  } else {
    StartWrite(frame);
  }
}

void TransferCall::OnWriteDone(bool ok) {
  // A failed write means the call is over; OnDone brings its status.
  if (ok) writeNext();
}

void TransferCall::OnDone(const grpc::Status& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  status_ = status;
  done_ = true;
  // Notified under the lock: the waiter may destroy this object as soon as it can take the lock.
  callEnded_.notify_all();
}

grpc::Status TransferCall::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  callEnded_.wait(lock, [this] { return done_; });
  return status_;
}

}  // namespace ravnest::detail
