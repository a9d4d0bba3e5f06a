#pragma once

#include "comm/server_state.h"
#include "ravnest.grpc.pb.h"

namespace ravnest::detail {

/// The gRPC service of one node. Transfer is registered raw (ByteBuffer frames, see TransferReactor), so
/// payload bytes are never parsed into protobuf strings; Ping is an ordinary unary call.
class PeerService final
    : public wire::Peer::WithRawCallbackMethod_Transfer<wire::Peer::WithCallbackMethod_Ping<wire::Peer::Service>> {
 public:
  explicit PeerService(ServerState& state) : state_(state) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Transfer(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* context, const wire::PingRequest* request,
                                 wire::PingReply* reply) override;

 private:
  ServerState& state_;
};

}  // namespace ravnest::detail
