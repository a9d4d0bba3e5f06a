#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

#include "ravnest/comm/inbox.h"
#include "ravnest/comm/message.h"
#include "ravnest/comm/transport_options.h"
#include "ravnest/tensor/codec.h"

namespace ravnest {

namespace detail {
class StreamListener;
}  // namespace detail

/// Where a message's payload is reduced while it arrives, instead of being copied into a buffer of its own:
/// `sum` = `addend` + payload, element by element, in the same pass as the NaN/Inf check. Both are contiguous
/// float32 CPU tensors of the payload's element count; the delivered message carries `sum` as its tensor.
struct ArrivalReduction {
  at::Tensor sum;
  at::Tensor addend;
};

/// The server of one node: it receives messages from peers into one bounded inbox per message kind and answers
/// pings. Two transports fill the inboxes: gRPC (every kind; control, TLS jobs, and the fallback) and direct
/// connections, plain TCP on a port of their own, for pipeline messages and ring chunks (docs/wire_protocol.md).
/// Listening starts in the constructor and stops in shutdown() or the destructor.
class PeerServer {
 public:
  /// Listens on `listenAddress` ("host:port"; port 0 picks a free one), and for direct connections on the same
  /// host at TransportOptions::ringPort. Throws NetworkError when the address cannot be bound, e.g. the port is in use.
  PeerServer(std::string nodeName, const std::string& listenAddress, TransportOptions options = {});
  ~PeerServer();
  PeerServer(const PeerServer&) = delete;
  PeerServer& operator=(const PeerServer&) = delete;

  /// The bound port.
  int port() const;
  /// Where this node accepts direct connections, as every ping reply tells; 0 when everything comes over gRPC
  /// (under TLS, or TransportOptions::ringPort kNoRingConnections).
  int ringPort() const;
  /// The listener of those connections, for the node's RingAllReduce; null when ringPort() is 0.
  detail::StreamListener* streamListener();
  const std::string& nodeName() const;

  /// The inbox that receives messages of `kind`. Lives as long as the server. Thread-safe.
  Inbox& inbox(MessageKind kind);

  /// Checks a complete message of `kind` before it enters the inbox (after the NaN/Inf check). It throws
  /// ProtocolError to reject the message: the sender then gets INVALID_ARGUMENT with the error's text, or
  /// PERMISSION_DENIED for a PermissionError. Runs on gRPC threads, so it must be thread-safe and quick.
  /// Replaces any earlier validator of that kind; an empty function removes it. Returns once no thread runs the
  /// earlier one any more, so whatever it refers to may then go. Not from a validator.
  using MessageValidator = std::function<void(const Message&)>;
  void setValidator(MessageKind kind, MessageValidator validator);

  /// Decides, from the header of each kRingChunk message of one tensor, whether its payload is reduced as it
  /// arrives: `header` has no tensors yet, `tensor` describes the one to come. Returns the target (only for an
  /// uncompressed float32 tensor of the target's size), or nothing for the ordinary path. It may throw like a
  /// validator to reject the message before any payload is accepted; the validator still checks the complete
  /// message. Runs on gRPC threads: thread-safe and quick. An empty function removes it; like setValidator, it
  /// returns once no thread runs the earlier one.
  using ArrivalPlanner = std::function<std::optional<ArrivalReduction>(const Message& header, const TensorMeta& tensor)>;
  void setArrivalPlanner(ArrivalPlanner planner);

  /// Calls refused for a missing or wrong job token, and messages rejected as malformed, since start.
  uint64_t refusedRequests() const;
  uint64_t rejectedMessages() const;
  /// Messages with NaN or Inf dropped under NonFinitePolicy::kSkip since start.
  uint64_t skippedMessages() const;

  /// Closes the inboxes (waiting senders get UNAVAILABLE) and the direct connections, then stops the server,
  /// letting calls in flight finish for up to one second. Idempotent. Thread-safe.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ravnest
