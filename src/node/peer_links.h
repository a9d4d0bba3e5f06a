#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "ravnest/comm/message.h"
#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/transport_options.h"
#include "ravnest/config/node_config.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// The node's connections to the other nodes of its cluster, by stage index. Each client is opened once, on
/// first use, and reused. Thread-safe.
class PeerLinks {
 public:
  PeerLinks(const NodeConfig& config, TransportOptions options);

  /// Sends `message` to the node of `stage`. Throws what PeerClient::send throws, with both node names.
  void send(int stage, Message message, CodecKind codec = CodecKind::kNone);
  /// Returns once every message sent to `stage` is in its inbox (PeerClient::flush).
  void flush(int stage);

  /// Waits until every stage in `stages` answers a ping, retrying with fresh connections until `timeout`, or
  /// until `stopped` says the node was stopped meanwhile. Throws TimeoutError naming the nodes that never answered.
  void waitUntilReachable(const std::set<int>& stages, std::chrono::milliseconds timeout,
                          const std::function<bool()>& stopped = {});

  /// Sends `message` to the node of every stage in `stages`, best effort: each try gives up after `deadline`,
  /// and failures are ignored (the peer may already be gone). For aborts and farewells.
  void tellBestEffort(const std::set<int>& stages, const Message& message, std::chrono::milliseconds deadline);
  /// Every stage of the cluster but this node's.
  std::set<int> otherStages() const;

  /// The stage of the node named `nodeName` (a message's sender), or -1 when it is not in this cluster.
  int stageOf(const std::string& nodeName) const;
  std::string describe(int stage) const;

 private:
  PeerClient& client(int stage);

  const NodeConfig& config_;
  const TransportOptions options_;
  std::mutex mutex_;
  std::map<int, std::unique_ptr<PeerClient>> clients_;
};

}  // namespace ravnest::detail
