#include "node/job_peers.h"

#include <algorithm>
#include <thread>

#include "ravnest/common/error.h"

namespace ravnest::detail {

JobPeers::JobPeers(const NodeConfig& config, TransportOptions options)
    : config_(config), options_(std::move(options)) {}

PeerClient& JobPeers::client(const JobMember& member) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = clients_[member.nodeId];
  if (!slot) slot = std::make_unique<PeerClient>(config_.name(), member.address, options_);
  return *slot;
}

bool JobPeers::sendUntil(const JobMember& member, const Message& message,
                         std::chrono::steady_clock::time_point giveUpAt, std::chrono::milliseconds retryEvery,
                         const std::function<bool()>& stop) {
  for (;;) {
    if (stop && stop()) return false;
    try {
      client(member).send(message);
      return true;
    } catch (const AuthenticationError&) {
      throw;
    } catch (const NetworkError&) {
      // Not listening yet (or a timeout): its provider may still be starting.
    }
    if (std::chrono::steady_clock::now() + retryEvery >= giveUpAt) return false;
    std::this_thread::sleep_for(retryEvery);
  }
}

const JobMember* JobPeers::find(const std::string& nodeName) const {
  const auto found = std::find_if(config_.jobNodes.begin(), config_.jobNodes.end(),
                                  [&](const JobMember& member) { return member.name() == nodeName; });
  return found == config_.jobNodes.end() ? nullptr : &*found;
}

}  // namespace ravnest::detail
