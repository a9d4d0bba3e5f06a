#pragma once

#include <atomic>

#include "comm/server_state.h"
#include "ravnest.grpc.pb.h"

namespace ravnest::detail {

/// The gRPC service of one node. Transfer is registered raw (ByteBuffer frames, see TransferReactor), so
/// payload bytes are never parsed into protobuf strings; Ping is an ordinary unary call.
class PeerService final
    : public wire::Peer::WithRawCallbackMethod_Transfer<wire::Peer::WithCallbackMethod_Ping<wire::Peer::Service>> {
 public:
  explicit PeerService(ServerState& state) { state_.store(&state, std::memory_order_release); }

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Transfer(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* context, const wire::PingRequest* request,
                                 wire::PingReply* reply) override;

 private:
  /// The node's state, published through an atomic: gRPC threads made for an earlier server in the process can
  /// take this service's first calls, ordered after the constructor only inside libgrpc, which TSan cannot see.
  ServerState& state() const { return *state_.load(std::memory_order_acquire); }

  std::atomic<ServerState*> state_{nullptr};
};

}  // namespace ravnest::detail
