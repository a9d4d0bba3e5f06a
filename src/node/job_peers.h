#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "ravnest/comm/message.h"
#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/transport_options.h"
#include "ravnest/config/node_config.h"

namespace ravnest::detail {

/// The node's connections to every other node of the job, in any cluster (NodeConfig::jobNodes), for the
/// job-wide control messages: the resume agreement and the checkpoint announcements. Pipeline traffic keeps
/// to PeerLinks. Each client is opened once, on first use. Thread-safe.
class JobPeers {
 public:
  JobPeers(const NodeConfig& config, TransportOptions options);

  /// Sends `message` to `member`, retrying every `retryEvery` while it is not listening yet, until `giveUpAt` or
  /// until `stop` (if given) says so. Returns whether it was delivered; errors other than an absent peer (a
  /// refused token, a rejection) throw.
  bool sendUntil(const JobMember& member, const Message& message, std::chrono::steady_clock::time_point giveUpAt,
                 std::chrono::milliseconds retryEvery, const std::function<bool()>& stop = {});
  /// The member named `nodeName`, or nullptr when it is not in the job.
  const JobMember* find(const std::string& nodeName) const;

 private:
  PeerClient& client(const JobMember& member);

  const NodeConfig& config_;
  const TransportOptions options_;
  std::mutex mutex_;
  std::map<int, std::unique_ptr<PeerClient>> clients_;  // by node id
};

}  // namespace ravnest::detail
