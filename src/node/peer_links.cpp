#include "node/peer_links.h"

#include "comm/reachability.h"
#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

std::string startTheirProviders(size_t silentPeers) {
  return silentPeers == 1 ? "start its provider" : "start their providers";
}

}  // namespace

PeerLinks::PeerLinks(const NodeConfig& config, TransportOptions options)
    : config_(config), options_(std::move(options)) {}

PeerClient& PeerLinks::client(int stage) {
  RAVNEST_CHECK(stage >= 0 && stage < static_cast<int>(config_.clusterNodes.size()), config_.name(),
                ": no stage ", stage, " in a cluster of ", config_.clusterNodes.size());
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = clients_[stage];
  if (!slot) slot = std::make_unique<PeerClient>(config_.name(), config_.clusterNodes[stage].address, options_);
  return *slot;
}

void PeerLinks::send(int stage, Message message, CodecKind codec) {
  client(stage).send(std::move(message), codec);
}

void PeerLinks::flush(int stage) { client(stage).flush(); }

void PeerLinks::waitUntilReachable(const std::set<int>& stages, std::chrono::milliseconds timeout,
                                   const std::function<bool()>& stopped) {
  std::set<std::string> addresses;
  for (int stage : stages) addresses.insert(config_.clusterNodes[stage].address);
  const std::string seconds = std::to_string(timeout.count() / 1000);
  const auto describeSilent = [&](const std::set<std::string>& silent) {
    std::string names;
    for (int stage : stages) {
      if (silent.count(config_.clusterNodes[stage].address)) names += (names.empty() ? "" : ", ") + describe(stage);
    }
    return names;
  };
  const std::set<std::string> unreachable =
      unreachableAfter(config_.name(), addresses, options_, timeout, [&](const std::set<std::string>& silent) {
        logger(config_.name())->warn("waiting for {} to answer: {} (giving up after {} s)", describeSilent(silent),
                                     startTheirProviders(silent.size()), seconds);
      },
      stopped);
  if (unreachable.empty()) return;
  const bool one = unreachable.size() == 1;
  throw TimeoutError(config_.name() + ": " + describeSilent(unreachable) + " did not answer within " + seconds +
                     " s: " + startTheirProviders(unreachable.size()) + ", or check the address" +
                     (one ? " in its node JSON" : "es in their node JSONs") + " and the firewall");
}

void PeerLinks::tellBestEffort(const std::set<int>& stages, const Message& message,
                               std::chrono::milliseconds deadline) {
  TransportOptions shortOptions = options_;
  shortOptions.deadline = deadline;
  for (int stage : stages) {
    try {
      PeerClient(config_.name(), config_.clusterNodes.at(stage).address, shortOptions).send(message);
    } catch (const Error&) {
      // Best effort: that peer is gone or stopping already.
    }
  }
}

std::set<int> PeerLinks::otherStages() const {
  std::set<int> stages;
  for (size_t stage = 0; stage < config_.clusterNodes.size(); ++stage) {
    if (config_.clusterNodes[stage].nodeId != config_.nodeId) stages.insert(static_cast<int>(stage));
  }
  return stages;
}

int PeerLinks::stageOf(const std::string& nodeName) const {
  for (size_t stage = 0; stage < config_.clusterNodes.size(); ++stage) {
    if (config_.clusterNodes[stage].name() == nodeName) return static_cast<int>(stage);
  }
  return -1;
}

std::string PeerLinks::describe(int stage) const {
  const auto& member = config_.clusterNodes.at(stage);
  return member.name() + " (" + member.address + ")";
}

}  // namespace ravnest::detail
