#include "comm/reachability.h"

#include <thread>

#include "ravnest/comm/peer_client.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

constexpr std::chrono::milliseconds kRetryPause{100};
constexpr std::chrono::milliseconds kProbeDeadline{2000};
/// How long a node that a running peer refused keeps its server answering before it stops. The peer's own wait
/// may not have reached us yet (it may have started later, or still be warming up); it must be refused by us in
/// turn to stop with the reason at once instead of waiting out its timeout for a node that has gone.
constexpr std::chrono::milliseconds kAnswerAfterRefusal{3000};

}  // namespace

std::set<std::string> unreachableAfter(const std::string& nodeName, std::set<std::string> addresses,
                                       const TransportOptions& options, std::chrono::milliseconds timeout,
                                       const StillWaiting& stillWaiting, const std::function<bool()>& abandoned) {
  TransportOptions probeOptions = options;
  probeOptions.deadline = kProbeDeadline;
  const auto started = std::chrono::steady_clock::now();
  const auto giveUp = started + timeout;
  bool noticed = false;
  while (true) {
    if (abandoned && abandoned()) return {};
    for (auto address = addresses.begin(); address != addresses.end();) {
      try {
        PeerClient(nodeName, *address, probeOptions).ping();
        address = addresses.erase(address);
      } catch (const AuthenticationError&) {
        // The peer is up and refused us: waiting longer cannot help.
        std::this_thread::sleep_for(kAnswerAfterRefusal);
        throw;
      } catch (const NetworkError&) {
        ++address;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (addresses.empty() || now >= giveUp) return addresses;
    if (stillWaiting && !noticed && now - started >= kStillWaitingNotice) {
      noticed = true;
      stillWaiting(addresses);
    }
    std::this_thread::sleep_for(kRetryPause);
  }
}

}  // namespace ravnest::detail
