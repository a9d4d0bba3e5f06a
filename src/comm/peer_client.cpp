#include "ravnest/comm/peer_client.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/slice.h>

#include "comm/call_status.h"
#include "comm/allocator_tuning.h"
#include "comm/message_framing.h"
#include "comm/server_state.h"
#include "comm/tls_credentials.h"
#include "comm/transfer_call.h"
#include "ravnest.grpc.pb.h"
#include "ravnest/common/error.h"

namespace ravnest {
namespace {

constexpr const char* kTransferMethod = "/ravnest.wire.Peer/Transfer";

std::shared_ptr<grpc::Channel> openChannel(const std::string& target, const TransportOptions& options) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxSendMessageSize(-1);
  arguments.SetMaxReceiveMessageSize(static_cast<int>(detail::kMaxHeaderBytes));
  // Each client gets its own connection, so that one slow stream cannot hold up another peer's link.
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Providers start in any order: a peer not listening yet is tried again within a second once it is, not
  // after gRPC's default backoff, which grows to two minutes.
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(target, detail::channelCredentials(options), arguments);
}

}  // namespace

struct PeerClient::Impl {
  Impl(std::string selfName, std::string peer, TransportOptions transportOptions)
      : self(std::move(selfName)),
        target(std::move(peer)),
        options(std::move(transportOptions)),
        channel(openChannel(target, options)),
        genericStub(channel),
        stub(wire::Peer::NewStub(channel)) {}

  void prepare(grpc::ClientContext& context) const {
    context.set_deadline(std::chrono::system_clock::now() + options.deadline);
    if (!options.authToken.empty()) context.AddMetadata(detail::kTokenMetadataKey, options.authToken);
  }

  const std::string self;
  const std::string target;
  const TransportOptions options;
  std::shared_ptr<grpc::Channel> channel;
  mutable grpc::GenericStub genericStub;
  std::unique_ptr<wire::Peer::Stub> stub;
};

PeerClient::PeerClient(std::string selfName, std::string target, TransportOptions options) {
  RAVNEST_CHECK(!target.empty(), "a peer address is needed (host:port)");
  RAVNEST_CHECK(options.deadline.count() > 0, "the deadline must be positive");
  detail::tuneAllocatorForStreaming();
  impl_ = std::make_unique<Impl>(std::move(selfName), std::move(target), std::move(options));
}

PeerClient::~PeerClient() = default;

const std::string& PeerClient::target() const {
  return impl_->target;
}

void PeerClient::send(Message message, CodecKind codec) const {
  message.sender = impl_->self;
  std::vector<grpc::ByteBuffer> frames = detail::frameMessage(message, codec, impl_->options.chunkBytes);
  uint64_t wireBytes = 0;
  for (const auto& frame : frames) wireBytes += frame.Length();
  detail::TransferCall call(std::move(frames));
  grpc::ClientContext context;
  impl_->prepare(context);
  // The call's metadata leaves with the first frame instead of in a packet of its own.
  context.set_initial_metadata_corked(true);
  impl_->genericStub.PrepareBidiStreamingCall(&context, kTransferMethod, grpc::StubOptions(), &call);
  call.start();
  detail::throwIfFailed(call.wait(), impl_->self, impl_->target, "sending " + messageKindName(message.kind),
                        detail::clientUsesTls(impl_->options));
  if (impl_->options.traffic && countsAsTraffic(message.kind)) {
    impl_->options.traffic->sentTo.add(impl_->target, wireBytes);
  }
}

std::pair<int, std::string> PeerClient::sendRawFrames(const std::vector<std::string>& frames) const {
  std::vector<grpc::ByteBuffer> buffers;
  for (const auto& frame : frames) {
    grpc::Slice slice(frame);
    buffers.emplace_back(&slice, 1);
  }
  detail::TransferCall call(std::move(buffers));
  grpc::ClientContext context;
  impl_->prepare(context);
  impl_->genericStub.PrepareBidiStreamingCall(&context, kTransferMethod, grpc::StubOptions(), &call);
  call.start();
  const grpc::Status status = call.wait();
  return {static_cast<int>(status.error_code()), status.error_message()};
}

std::string PeerClient::ping(const std::string& payload) const {
  return pingCall(payload).first;
}

int PeerClient::ringPort() const {
  return pingCall({}).second;
}

std::pair<std::string, int> PeerClient::pingCall(const std::string& payload) const {
  grpc::ClientContext context;
  impl_->prepare(context);
  wire::PingRequest request;
  request.set_payload(payload);
  wire::PingReply reply;
  detail::throwIfFailed(impl_->stub->Ping(&context, request, &reply), impl_->self, impl_->target, "ping",
                        detail::clientUsesTls(impl_->options));
  return {reply.node(), static_cast<int>(reply.ring_port())};
}

}  // namespace ravnest
