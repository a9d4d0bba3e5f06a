#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <string>

#include "ravnest/matchmaker/matchmaker_client_options.h"

namespace ravnest::detail {

/// A channel to the matchmaker (TLS when a CA file is given). Throws InvalidArgumentError for an empty address.
std::shared_ptr<grpc::Channel> matchmakerChannel(const MatchmakerClientOptions& options);

/// Puts the token and a deadline of `timeoutS` seconds on a call. `waitForReady`: while the matchmaker is
/// unreachable the call waits (until the deadline) for the channel to reconnect instead of failing at once, so
/// that a heartbeat finds a restarted matchmaker as soon as it is back.
void prepareCall(grpc::ClientContext& context, const MatchmakerClientOptions& options, double timeoutS,
                 bool waitForReady = false);

/// Throws the ravnest error matching a failed call, naming the matchmaker and `what` was asked:
/// AuthenticationError (wrong token), InvalidArgumentError (refused input), ProtocolError (a corrupt or truncated
/// artifact: send it again), TimeoutError, NetworkError (unreachable and the rest). Nothing for OK.
void throwIfFailed(const grpc::Status& status, const MatchmakerClientOptions& options, const std::string& what);

}  // namespace ravnest::detail
