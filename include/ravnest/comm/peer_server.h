#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ravnest/comm/inbox.h"
#include "ravnest/comm/message.h"
#include "ravnest/comm/transport_options.h"

namespace ravnest {

/// The gRPC server of one node: it receives messages from peers into one bounded inbox per message kind and
/// answers pings. Listening starts in the constructor and stops in shutdown() or the destructor.
class PeerServer {
 public:
  /// Listens on `listenAddress` ("host:port"; port 0 picks a free one). Throws NetworkError when the address
  /// cannot be bound, e.g. the port is in use.
  PeerServer(std::string nodeName, const std::string& listenAddress, TransportOptions options = {});
  ~PeerServer();
  PeerServer(const PeerServer&) = delete;
  PeerServer& operator=(const PeerServer&) = delete;

  /// The bound port.
  int port() const;
  const std::string& nodeName() const;

  /// The inbox that receives messages of `kind`. Lives as long as the server. Thread-safe.
  Inbox& inbox(MessageKind kind);

  /// Checks a complete message of `kind` before it enters the inbox (after the NaN/Inf check). It throws
  /// ProtocolError to reject the message: the sender then gets INVALID_ARGUMENT with the error's text, or
  /// PERMISSION_DENIED for a PermissionError. Runs on gRPC threads, so it must be thread-safe and quick.
  /// Replaces any earlier validator of that kind; an empty function removes it.
  using MessageValidator = std::function<void(const Message&)>;
  void setValidator(MessageKind kind, MessageValidator validator);

  /// Calls refused for a missing or wrong job token, and messages rejected as malformed, since start.
  uint64_t refusedRequests() const;
  uint64_t rejectedMessages() const;
  /// Messages with NaN or Inf dropped under NonFinitePolicy::kSkip since start.
  uint64_t skippedMessages() const;

  /// Closes the inboxes (waiting senders get UNAVAILABLE), then stops the server, letting calls in flight
  /// finish for up to one second. Idempotent. Thread-safe.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ravnest
