#include "ravnest/comm/peer_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/slice.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "comm/allocator_tuning.h"
#include "comm/grpc/call_status.h"
#include "comm/grpc/message_framing.h"
#include "comm/grpc/tls_credentials.h"
#include "comm/grpc/transfer_call.h"
#include "comm/server_state.h"
#include "comm/stream/message_stream_sender.h"
#include "ravnest.grpc.pb.h"
#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

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

/// Pipeline messages take the peer's direct connection when there is one; control messages (few, and sent
/// by short-lived clients) and ring chunks (which have ring connections) stay on gRPC.
bool travelsDirect(MessageKind kind) { return kind == MessageKind::kActivation || kind == MessageKind::kGradient; }

}  // namespace

struct PeerClient::DirectLane {
  // Held for a whole send on the lane, so that messages leave in the order their sends took it.
  std::mutex mutex;
  std::unique_ptr<detail::MessageStreamSender> sender;  // guarded by mutex; null: not open
  bool unconfirmed = false;  // guarded by mutex: a message went out since the last confirmed flush
};

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

  /// Whether pipeline messages go over a direct connection, which opens on first use.
  enum class Direct { kNotTried, kYes, kNo };

  const std::string self;
  const std::string target;
  const TransportOptions options;
  std::shared_ptr<grpc::Channel> channel;
  mutable grpc::GenericStub genericStub;
  std::unique_ptr<wire::Peer::Stub> stub;
  std::mutex routeMutex;
  Direct direct = Direct::kNotTried;  // guarded by routeMutex
  // One direct connection per kind, so that a full inbox of one kind at the peer never holds up the other.
  std::array<DirectLane, 2> lanes;

  DirectLane& laneOf(MessageKind kind) { return lanes[kind == MessageKind::kActivation ? 0 : 1]; }
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
  if (travelsDirect(message.kind) && sendDirect(message, codec)) return;
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

bool PeerClient::sendDirect(const Message& message, CodecKind codec) const {
  const detail::EncodedMessage encoded = detail::encodeMessage(message, codec);
  DirectLane& lane = impl_->laneOf(message.kind);
  std::lock_guard<std::mutex> lock(lane.mutex);
  if (!openDirectLocked(lane)) return false;
  const std::string what = "sending " + messageKindName(message.kind);
  const uint64_t wireBytes =
      directCall(lane, what, [&](detail::MessageStreamSender& sender, detail::SteadyTime deadline) {
        return sender.write(encoded, deadline);
      });
  lane.unconfirmed = true;
  if (impl_->options.traffic && countsAsTraffic(message.kind)) {
    impl_->options.traffic->sentTo.add(impl_->target, wireBytes);
  }
  return true;
}

void PeerClient::flush() const {
  for (DirectLane& lane : impl_->lanes) {
    std::lock_guard<std::mutex> lock(lane.mutex);
    if (!lane.sender || !lane.unconfirmed) continue;
    directCall(lane, "confirming delivery", [](detail::MessageStreamSender& sender, detail::SteadyTime deadline) {
      sender.sync(deadline);
      return uint64_t{0};
    });
    lane.unconfirmed = false;
  }
}

bool PeerClient::openDirectLocked(DirectLane& lane) const {
  if (lane.sender) return true;
  Impl& impl = *impl_;
  std::lock_guard<std::mutex> lock(impl.routeMutex);
  if (impl.direct == Impl::Direct::kNo) return false;
  const bool firstTry = impl.direct == Impl::Direct::kNotTried;
  if (firstTry &&
      (detail::clientUsesTls(impl.options) || impl.options.ringPort == TransportOptions::kNoRingConnections)) {
    impl.direct = Impl::Direct::kNo;
    return false;
  }
  const int port = pingCall({}).second;
  if (port == 0) {  // the peer takes everything over gRPC (TLS, or ring_port=-1 there)
    impl.direct = Impl::Direct::kNo;
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + impl.options.deadline;
  try {
    lane.sender = std::make_unique<detail::MessageStreamSender>(impl.self, detail::splitHostPort(impl.target).first,
                                                                port, impl.options.authToken, deadline);
  } catch (const AuthenticationError&) {
    throw;
  } catch (const NetworkError& error) {
    if (!firstTry) {
      throw NetworkError("node " + impl.self + ": reopening the direct connection to peer " + impl.target +
                         " failed: " + error.what() + ". Check that the peer is running");
    }
    logger(impl.self)->warn(
        "cannot open a direct connection to {} on port {} ({}): its pipeline messages go over "
        "gRPC instead (slower; open that port in the firewall, or set ring_port)",
        impl.target, port, error.what());
    impl.direct = Impl::Direct::kNo;
    return false;
  }
  impl.direct = Impl::Direct::kYes;
  return true;
}

uint64_t PeerClient::directCall(DirectLane& lane, const std::string& what, const DirectStep& step) const {
  const std::string prefix = "node " + impl_->self + ": " + what + " to peer " + impl_->target + " failed: ";
  try {
    return step(*lane.sender, std::chrono::steady_clock::now() + impl_->options.deadline);
  } catch (const TimeoutError& error) {
    lane.sender.reset();  // the next send opens a fresh connection
    throw TimeoutError(prefix + error.what() + ". Check that the peer is alive and keeping up, or raise the deadline");
  } catch (const NetworkError& error) {
    lane.sender.reset();
    throw NetworkError(prefix + error.what() + ". Check that the peer is running and reachable at that address");
  } catch (const ProtocolError& error) {
    lane.sender.reset();
    throw ProtocolError(prefix + error.what());
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
