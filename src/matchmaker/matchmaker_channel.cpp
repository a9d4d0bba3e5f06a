#include "matchmaker/matchmaker_channel.h"

#include <grpcpp/create_channel.h>

#include "comm/grpc/tls_credentials.h"
#include "comm/server_state.h"  // kTokenMetadataKey
#include "ravnest/common/error.h"

namespace ravnest::detail {

std::shared_ptr<grpc::Channel> matchmakerChannel(const MatchmakerClientOptions& options) {
  RAVNEST_CHECK(!options.address.empty(), "the matchmaker's address is empty: give host:port");
  TransportOptions tls;
  tls.tlsCaFile = options.tlsCaFile;
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(8 << 20);
  // Reconnect quickly once a restarted matchmaker is back; the session's own back-off paces the calls.
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(options.address, channelCredentials(tls), arguments);
}

void prepareCall(grpc::ClientContext& context, const MatchmakerClientOptions& options, double timeoutS,
                 bool waitForReady) {
  if (!options.token.empty()) context.AddMetadata(kTokenMetadataKey, options.token);
  context.set_wait_for_ready(waitForReady);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(timeoutS * 1000)));
}

void throwIfFailed(const grpc::Status& status, const MatchmakerClientOptions& options, const std::string& what) {
  if (status.ok()) return;
  const std::string message = concat("matchmaker ", options.address, " (", what, "): ", status.error_message());
  switch (status.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
      throw AuthenticationError(message);
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::PERMISSION_DENIED:
      throw InvalidArgumentError(message);
    case grpc::StatusCode::DATA_LOSS:
      throw ProtocolError(message);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      throw TimeoutError(message);
    default:
      throw NetworkError(message + (status.error_code() == grpc::StatusCode::UNAVAILABLE
                                        ? "; is the matchmaker running at that address?"
                                        : ""));
  }
}

}  // namespace ravnest::detail
