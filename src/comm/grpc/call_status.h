#pragma once

#include <grpcpp/support/status.h>

#include <string>

namespace ravnest::detail {

/// Turns a failed call's status into the matching ravnest error, naming both nodes and what to do.
/// Does nothing for OK. `tls` says whether the call was made over TLS, for the advice on connection failures.
void throwIfFailed(const grpc::Status& status, const std::string& self, const std::string& target,
                   const std::string& what, bool tls);

}  // namespace ravnest::detail
