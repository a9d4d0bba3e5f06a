#include "ravnest/comm/peer_server.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <mutex>

#include "comm/allocator_tuning.h"
#include "comm/grpc/message_framing.h"
#include "comm/grpc/peer_service.h"
#include "comm/grpc/tls_credentials.h"
#include "comm/server_state.h"
#include "comm/stream/message_stream_receiver.h"
#include "comm/stream/stream_listener.h"
#include "ravnest/common/error.h"

namespace ravnest {

struct PeerServer::Impl {
  Impl(std::string nodeName, TransportOptions options)
      : state(std::move(nodeName), std::move(options)), service(state), messageStreams(state) {}

  detail::ServerState state;
  detail::PeerService service;
  detail::MessageStreamReceiver messageStreams;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::string host;
  std::unique_ptr<detail::StreamListener> streamListener;
  std::once_flag shutdownOnce;
};

PeerServer::PeerServer(std::string nodeName, const std::string& listenAddress, TransportOptions options)
    : impl_(std::make_unique<Impl>(std::move(nodeName), std::move(options))) {
  detail::tuneAllocatorForStreaming();
  impl_->host = listenAddress.substr(0, listenAddress.rfind(':'));
  if (impl_->host.size() >= 2 && impl_->host.front() == '[') impl_->host = impl_->host.substr(1, impl_->host.size() - 2);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listenAddress, detail::serverCredentials(impl_->state.options), &impl_->port);
  builder.RegisterService(&impl_->service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(detail::kMaxFrameBytes + detail::kMaxHeaderBytes + 64));
  builder.SetMaxSendMessageSize(static_cast<int>(detail::kMaxHeaderBytes));
  // Without SO_REUSEPORT a second node on a port in use fails here instead of silently sharing it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, static_cast<int>(detail::kMaxFrameBytes));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, (1 << 24) - 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || impl_->port == 0) {
    throw NetworkError(impl_->state.node + " cannot listen on " + listenAddress +
                       ": the port is in use (is this provider already running?) or the address is not local. Stop "
                       "the other process, or pick another port in node_data/node_configs.json and rerun cluster "
                       "formation");
  }
  const bool tls = !impl_->state.options.tlsCertFile.empty();
  if (!tls && impl_->state.options.ringPort != TransportOptions::kNoRingConnections) {
    impl_->streamListener = std::make_unique<detail::StreamListener>(
        impl_->state.node, impl_->host, impl_->state.options.ringPort, impl_->state.options.authToken,
        [this](std::shared_ptr<detail::StreamSocket> socket, std::string sender) {
          return impl_->messageStreams.serve(std::move(socket), std::move(sender));
        });
    impl_->state.ringPort = impl_->streamListener->port();
  }
  impl_->state.log->info("listening on {} (port {}{}, direct connections on {})", listenAddress, impl_->port,
                         tls ? ", TLS" : ", plaintext", impl_->state.ringPort.load());
}

PeerServer::~PeerServer() {
  shutdown();
}

int PeerServer::port() const {
  return impl_->port;
}

int PeerServer::ringPort() const {
  return impl_->state.ringPort.load();
}

detail::StreamListener* PeerServer::streamListener() { return impl_->streamListener.get(); }

const std::string& PeerServer::nodeName() const {
  return impl_->state.node;
}

Inbox& PeerServer::inbox(MessageKind kind) {
  return impl_->state.inbox(kind);
}

void PeerServer::setValidator(MessageKind kind, MessageValidator validator) {
  impl_->state.setValidator(kind, std::move(validator));
}

void PeerServer::setArrivalPlanner(ArrivalPlanner planner) {
  impl_->state.setArrivalPlanner(std::move(planner));
}

uint64_t PeerServer::refusedRequests() const {
  return impl_->state.refusedRequests.load();
}

uint64_t PeerServer::rejectedMessages() const {
  return impl_->state.rejectedMessages.load();
}

uint64_t PeerServer::skippedMessages() const {
  return impl_->state.skippedMessages.load();
}

void PeerServer::shutdown() {
  std::call_once(impl_->shutdownOnce, [this] {
    for (auto& inbox : impl_->state.inboxes) inbox->close();
    if (impl_->streamListener) impl_->streamListener->close();
    impl_->messageStreams.close();
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    impl_->server->Wait();
    impl_->state.log->info("stopped");
  });
}

}  // namespace ravnest
