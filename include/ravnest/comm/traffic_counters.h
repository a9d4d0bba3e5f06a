#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include "ravnest/comm/message.h"

namespace ravnest {

/// Bytes moved per peer, one counter per peer key. Adding to a known peer is one atomic add; the first bytes
/// of a new peer take a short exclusive lock. Thread-safe.
class PeerByteCounts {
 public:
  void add(const std::string& peer, uint64_t bytes);
  /// Every peer seen so far and its total.
  std::map<std::string, uint64_t> snapshot() const;

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::unique_ptr<std::atomic<uint64_t>>> counts_;
};

/// What a node's transport moved. Both sides count the wire bytes (framing, header and payload) of each data
/// message (activations, gradients, ring chunks) that reached the peer's inbox. The receiver counts before the
/// sender learns of the delivery, and a node stops only after its last data message, so once both ended a
/// sender's count to a peer equals that peer's count from the sender. Failed sends, pings and control messages
/// (aborts and farewells, which may cross a peer that is already closing) are not counted. The keys differ by
/// side: a sender knows the address it sends to, a receiver only the name the sender declares (node_<id>).
/// Thread-safe.
struct TrafficCounters {
  PeerByteCounts sentTo;          // by peer address (host:port)
  PeerByteCounts receivedFrom;    // by sender node name
};

/// Whether messages of `kind` are counted: data, not control.
inline bool countsAsTraffic(MessageKind kind) { return kind != MessageKind::kControl; }

}  // namespace ravnest
