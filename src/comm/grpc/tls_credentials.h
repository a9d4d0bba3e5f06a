#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "ravnest/comm/transport_options.h"

namespace ravnest::detail {

/// TLS with the certificate and key of `options` when both are set, plaintext when neither is.
/// Throws ConfigError when only one is set or a file cannot be read.
std::shared_ptr<grpc::ServerCredentials> serverCredentials(const TransportOptions& options);

/// TLS verifying the peer against the CA of `options` when it is set, plaintext otherwise.
/// Throws ConfigError when the CA file cannot be read.
std::shared_ptr<grpc::ChannelCredentials> channelCredentials(const TransportOptions& options);

/// Whether clients made with `options` speak TLS.
inline bool clientUsesTls(const TransportOptions& options) { return !options.tlsCaFile.empty(); }

}  // namespace ravnest::detail
