#include "comm/grpc/call_status.h"

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

/// gRPC reports a failed TLS handshake only as UNAVAILABLE with this text (gRPC 1.51), like a peer that is down.
bool isHandshakeFailure(const grpc::Status& status) {
  const std::string& message = status.error_message();
  return message.find("andshake failed") != std::string::npos;
}

}  // namespace

void throwIfFailed(const grpc::Status& status, const std::string& self, const std::string& target,
                   const std::string& what, bool tls) {
  const std::string prefix = "node " + self + ": " + what + " to peer " + target + " failed: ";
  switch (status.error_code()) {
    case grpc::StatusCode::OK: return;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      throw TimeoutError(prefix +
                         "no answer within the deadline (its inbox stayed full, or it hangs). Check that "
                         "the peer is alive and keeping up, or raise the deadline");
    case grpc::StatusCode::UNAUTHENTICATED:
      throw AuthenticationError(prefix + status.error_message() + ". Give every node of the job the same token");
    case grpc::StatusCode::PERMISSION_DENIED:
      throw ProtocolError(prefix + "the peer refused the message: " + status.error_message());
    case grpc::StatusCode::UNAVAILABLE:
      if (isHandshakeFailure(status)) {
        throw AuthenticationError(prefix + status.error_message() + ". The peer is running, but " +
                                  (tls ? "its certificate is not signed by our CA file or does not name that "
                                         "address, or it does not serve TLS"
                                       : "it expects TLS: give this node the job's CA file (tls_ca) as well"));
      }
      throw NetworkError(prefix + status.error_message() +
                         ". Check that the peer is running and reachable at that "
                         "address" +
                         (tls ? ", serves TLS, and that its certificate is signed by our CA file and "
                                "names that address"
                              : ", and that it does not expect TLS (then give this node its CA file)"));
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      throw ProtocolError(prefix + "the peer rejected the message: " + status.error_message());
    default:
      throw NetworkError(prefix + status.error_message() + " (" + std::to_string(status.error_code()) +
                         "). Check that the peer is running and reachable at that address");
  }
}

}  // namespace ravnest::detail
