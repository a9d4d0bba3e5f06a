#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "comm/grpc/slice_reader.h"
#include "comm/payload_assembler.h"
#include "comm/server_state.h"

namespace ravnest::detail {

/// Server side of one Transfer call. It reads the header from the first frame, validates it, reserves a slot in
/// the inbox of the message's kind (accepting no payload until it has one: that stalls the sender through HTTP/2 flow
/// control, which is the back-pressure), then copies payload frames into place and commits the message when
/// the client half-closes. Any protocol violation finishes the call with INVALID_ARGUMENT and a message that
/// names the field; the server keeps serving.
///
/// Threads: gRPC callbacks and the inbox's slot grant (which may arrive on a consumer thread) are serialised by
/// `guard_->mutex`. The guard outlives the reactor so that a grant arriving after OnDone can give its slot back.
class TransferReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  TransferReactor(ServerState& state, grpc::CallbackServerContext* context);

  void OnReadDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  struct Guard {
    std::mutex mutex;
    TransferReactor* reactor = nullptr;  // null once OnDone ran
  };

  bool startMessageLocked();
  bool planArrivalLocked();
  bool appendPayloadLocked(SliceReader& payload);
  void appendFrameLocked();
  void endOfStreamLocked();
  void onSlotLocked(bool granted);
  void failLocked(grpc::StatusCode code, const std::string& why);
  void finishLocked(const grpc::Status& status);

  /// The guard's mutex, for a callback to lock before it touches anything else. gRPC runs the callbacks on its
  /// own threads, after the constructor, ordered inside its uninstrumented library; this atomic (stored last in
  /// the constructor, loaded first in each callback) states that hand-off where ThreadSanitizer sees it.
  std::mutex& callbackMutex();

  ServerState& state_;
  grpc::CallbackServerContext* context_;
  std::shared_ptr<Guard> guard_;
  std::atomic<Guard*> publishedGuard_{nullptr};
  grpc::ByteBuffer frame_;
  std::optional<PayloadAssembler> assembler_;
  std::optional<SliceReader> firstPayload_;  // payload that came with the header, held until a slot is granted
  Inbox* inbox_ = nullptr;
  uint64_t wireBytes_ = 0;  // the frames of this call so far, as the sender counted them
  bool waitingForSlot_ = false;
  bool holdingSlot_ = false;
  bool finished_ = false;
};

}  // namespace ravnest::detail
