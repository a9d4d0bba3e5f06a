#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/client_callback.h>
#include <grpcpp/support/status.h>

#include <condition_variable>
#include <mutex>
#include <vector>

namespace ravnest::detail {

/// Client side of one Transfer call: writes the frames one after the other (gRPC allows one write in flight
/// per stream, and flow control paces them), half-closes, and waits for the final status. The caller owns the
/// object and must keep it alive until wait() returns.
class TransferCall final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit TransferCall(std::vector<grpc::ByteBuffer> frames) : frames_(std::move(frames)) {}

  /// Starts the call; the reactor must already be bound with PrepareBidiStreamingCall.
  void start();
  /// Blocks until gRPC reports the end of the call.
  grpc::Status wait();

  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  void writeNext();

  std::vector<grpc::ByteBuffer> frames_;
  size_t nextFrame_ = 0;
  std::mutex mutex_;  // guards nextFrame_, done_ and status_
  std::condition_variable callEnded_;
  bool done_ = false;
  grpc::Status status_;
};

}  // namespace ravnest::detail
