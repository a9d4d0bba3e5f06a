#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ravnest/comm/traffic_counters.h"

namespace ravnest {

/// What a server does with a message whose floating-point tensors hold NaN or Inf.
enum class NonFinitePolicy {
  kReject,  // answer INVALID_ARGUMENT naming the tensor, and log an error
  kSkip,    // answer OK but drop the message, count it and log a warning
};

/// Settings shared by a node's server and its clients. The defaults suit a home internet link.
struct TransportOptions {
  /// Shared secret of the job. When set, the server refuses requests without it (UNAUTHENTICATED) and the
  /// clients attach it to every call. Empty: no authentication.
  std::string authToken;
  /// TLS (PEM files). A server presents `tlsCertFile` and `tlsKeyFile` when both are set; a client verifies
  /// its peer against `tlsCaFile` when it is set. All empty: plaintext. See docs/security.md.
  std::string tlsCertFile;
  std::string tlsKeyFile;
  std::string tlsCaFile;
  /// Where the server also listens for direct connections: plain TCP connections that carry pipeline messages
  /// (one per sending neighbour) and ring chunks (one per all-reduce ring) straight into their buffers, without
  /// gRPC's framing and thread hand-offs (docs/wire_protocol.md). 0: any free port on the server's host (peers
  /// learn it in a ping); a port number: that one, for a firewall that must let it through; kNoRingConnections:
  /// none, everything comes over gRPC. They carry the job token but are not encrypted, so a server with TLS never
  /// opens them. (The name is the original's option, ring_port, from when only ring chunks used them.)
  int ringPort = 0;
  static constexpr int kNoRingConnections = -1;
  /// Messages carrying NaN or Inf.
  NonFinitePolicy nonFinite = NonFinitePolicy::kReject;
  /// Size of the payload frames a message is streamed in.
  int64_t chunkBytes = int64_t{4} << 20;
  /// Largest message (sum of encoded tensor bytes) and largest single tensor a server accepts.
  int64_t maxMessageBytes = int64_t{8} << 30;
  /// Most tensors one message may carry.
  int64_t maxTensorsPerMessage = 4096;
  /// Messages of one kind a server holds before senders of that kind block.
  size_t inboxCapacity = 16;
  /// How long a send or ping may take, waiting for room in the peer's inbox included.
  std::chrono::milliseconds deadline{std::chrono::seconds(60)};
  /// Where the servers and clients made with these options count the bytes they move; null: not counted.
  /// Copies of the options share the counters, so a node sees all of its links in one place.
  std::shared_ptr<TrafficCounters> traffic;
};

}  // namespace ravnest
