#include "comm/grpc/peer_service.h"

#include "comm/grpc/transfer_reactor.h"

namespace ravnest::detail {

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* PeerService::Transfer(
    grpc::CallbackServerContext* context) {
  return new TransferReactor(state(), context);  // deletes itself in OnDone
}

grpc::ServerUnaryReactor* PeerService::Ping(grpc::CallbackServerContext* context, const wire::PingRequest* request,
                                            wire::PingReply* reply) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ServerState& state = this->state();
  if (!state.authorize(*context, "Ping")) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                 "node " + state.node + " refused the call: missing or wrong job token"));
    return reactor;
  }
  reply->set_node(state.node);
  reply->set_payload(request->payload());
  reply->set_ring_port(static_cast<uint32_t>(state.ringPort.load()));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace ravnest::detail
