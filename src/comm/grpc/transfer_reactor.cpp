#include "comm/grpc/transfer_reactor.h"

#include <grpcpp/support/slice.h>

#include <chrono>
#include <vector>

#include "comm/grpc/message_framing.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {

TransferReactor::TransferReactor(ServerState& state, grpc::CallbackServerContext* context)
    : state_(state), context_(context), guard_(std::make_shared<Guard>()) {
  guard_->reactor = this;
  publishedGuard_.store(guard_.get(), std::memory_order_release);
  std::lock_guard<std::mutex> lock(guard_->mutex);
  if (!state_.authorize(*context_, "Transfer")) {
    finishLocked(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                              "node " + state_.node + " refused the call: missing or wrong job token"));
    return;
  }
  StartRead(&frame_);
}

std::mutex& TransferReactor::callbackMutex() { return publishedGuard_.load(std::memory_order_acquire)->mutex; }

void TransferReactor::OnReadDone(bool ok) {
  std::unique_lock<std::mutex> lock(callbackMutex());
  if (finished_) return;
  if (!ok) {
    endOfStreamLocked();
    return;
  }
  if (assembler_) {
    appendFrameLocked();
    return;
  }
  if (!startMessageLocked()) return;
  // The grant may run inline, so the lock must be dropped first; the callback only touches the guard.
  waitingForSlot_ = true;
  Inbox* inbox = inbox_;
  std::shared_ptr<Guard> guard = guard_;
  lock.unlock();
  inbox->reserve([guard, inbox](bool granted) {
    std::lock_guard<std::mutex> grantLock(guard->mutex);
    if (guard->reactor == nullptr) {
      if (granted) inbox->release();
      return;
    }
    guard->reactor->onSlotLocked(granted);
  });
}

bool TransferReactor::startMessageLocked() {
  std::vector<grpc::Slice> slices;
  if (!frame_.Dump(&slices).ok()) {
    failLocked(grpc::StatusCode::INVALID_ARGUMENT, "message header: unreadable frame");
    return false;
  }
  wireBytes_ = frame_.Length();
  SliceReader reader(std::move(slices));
  try {
    assembler_.emplace(readHeaderFrame(reader), state_.options);
  } catch (const ProtocolError& error) {
    failLocked(grpc::StatusCode::INVALID_ARGUMENT, error.what());
    return false;
  }
  if (!planArrivalLocked()) return false;
  firstPayload_.emplace(std::move(reader));
  inbox_ = &state_.inbox(assembler_->kind());
  return true;
}

bool TransferReactor::planArrivalLocked() {
  if (assembler_->kind() != MessageKind::kRingChunk || assembler_->tensorCount() != 1) return true;
  try {
    std::optional<ArrivalReduction> target = state_.planArrival(assembler_->header(), assembler_->tensorMeta(0));
    if (target) assembler_->reduceOnArrival(std::move(*target));
  } catch (const PermissionError& error) {
    failLocked(grpc::StatusCode::PERMISSION_DENIED, error.what());
    return false;
  } catch (const std::exception& error) {
    failLocked(grpc::StatusCode::INVALID_ARGUMENT, error.what());
    return false;
  }
  return true;
}

void TransferReactor::onSlotLocked(bool granted) {
  waitingForSlot_ = false;
  if (finished_) {
    if (granted) inbox_->release();
    return;
  }
  if (!granted) {
    finishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node " + state_.node + " is shutting down"));
    return;
  }
  holdingSlot_ = true;
  if (!appendPayloadLocked(*firstPayload_)) return;
  firstPayload_.reset();
  StartRead(&frame_);
}

bool TransferReactor::appendPayloadLocked(SliceReader& payload) {
  try {
    payload.drain([this](const uint8_t* data, size_t size) { assembler_->append(data, size); });
  } catch (const ProtocolError& error) {
    failLocked(grpc::StatusCode::INVALID_ARGUMENT, error.what());
    return false;
  } catch (const std::exception& error) {  // the buffer the header declares could not be allocated
    failLocked(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string("message payload: cannot hold it: ") + error.what());
    return false;
  }
  return true;
}

void TransferReactor::appendFrameLocked() {
  std::vector<grpc::Slice> slices;
  if (!frame_.Dump(&slices).ok()) {
    failLocked(grpc::StatusCode::INVALID_ARGUMENT, "message payload: unreadable frame");
    return;
  }
  wireBytes_ += frame_.Length();
  SliceReader payload(std::move(slices));
  if (!appendPayloadLocked(payload)) return;
  frame_.Clear();
  StartRead(&frame_);
}

void TransferReactor::endOfStreamLocked() {
  // A sender past its deadline has already reported a failure: delivering now would deliver a message its
  // sender believes lost.
  if (context_->IsCancelled() || std::chrono::system_clock::now() >= context_->deadline()) {
    finishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the sender cancelled the transfer or ran out of time"));
    return;
  }
  if (!assembler_) {
    failLocked(grpc::StatusCode::INVALID_ARGUMENT, "message header: the stream ended before it");
    return;
  }
  try {
    Message message = assembler_->finish();
    if (!state_.admit(message, assembler_->nonFiniteTensor())) {  // dropped: OnDone gives the slot back
      finishLocked(grpc::Status::OK);
      return;
    }
    const std::string sender = message.sender;
    const MessageKind kind = message.kind;
    inbox_->commit(std::move(message));
    if (state_.options.traffic && countsAsTraffic(kind)) {
      state_.options.traffic->receivedFrom.add(sender, wireBytes_);
    }
    holdingSlot_ = false;
  } catch (const PermissionError& error) {
    failLocked(grpc::StatusCode::PERMISSION_DENIED, error.what());
    return;
  } catch (const std::exception& error) {
    failLocked(grpc::StatusCode::INVALID_ARGUMENT, error.what());
    return;
  }
  finishLocked(grpc::Status::OK);
}

void TransferReactor::OnCancel() {
  std::lock_guard<std::mutex> lock(callbackMutex());
  // A pending read completes by itself on cancellation; only a call parked for an inbox slot must be ended here.
  if (waitingForSlot_ && !finished_) {
    finishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the sender gave up waiting for inbox room"));
  }
}

void TransferReactor::OnDone() {
  bool releaseSlot = false;
  {
    std::lock_guard<std::mutex> lock(callbackMutex());
    guard_->reactor = nullptr;
    releaseSlot = holdingSlot_;
  }
  if (releaseSlot) inbox_->release();
  delete this;
}

void TransferReactor::failLocked(grpc::StatusCode code, const std::string& why) {
  ++state_.rejectedMessages;
  state_.log->error("rejected a message from {}: {}", context_->peer(), why);
  finishLocked(grpc::Status(code, why));
}

void TransferReactor::finishLocked(const grpc::Status& status) {
  finished_ = true;
  Finish(status);
}

}  // namespace ravnest::detail
