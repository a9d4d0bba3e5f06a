#include "comm/transfer_call.h"

namespace ravnest::detail {

void TransferCall::start() {
  StartCall();
  writeNext();
}

void TransferCall::writeNext() {
  if (frames_.empty()) {
    StartWritesDone();
  } else if (nextFrame_ + 1 < frames_.size()) {
    StartWrite(&frames_[nextFrame_++]);
  } else if (nextFrame_ + 1 == frames_.size()) {
    // The last frame carries the half-close, which saves the server one more read.
    StartWriteLast(&frames_[nextFrame_++], grpc::WriteOptions());
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
