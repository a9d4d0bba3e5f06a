#include "comm/reachability.h"

#include <thread>

#include "ravnest/comm/peer_client.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

constexpr std::chrono::milliseconds kRetryPause{100};
constexpr std::chrono::milliseconds kProbeDeadline{2000};

}  // namespace

std::set<std::string> unreachableAfter(const std::string& nodeName, std::set<std::string> addresses,
                                       const TransportOptions& options, std::chrono::milliseconds timeout) {
  TransportOptions probeOptions = options;
  probeOptions.deadline = kProbeDeadline;
  const auto giveUp = std::chrono::steady_clock::now() + timeout;
  while (true) {
    for (auto address = addresses.begin(); address != addresses.end();) {
      try {
        PeerClient(nodeName, *address, probeOptions).ping();
        address = addresses.erase(address);
      } catch (const NetworkError&) {
        ++address;
      }
    }
    if (addresses.empty() || std::chrono::steady_clock::now() >= giveUp) return addresses;
    std::this_thread::sleep_for(kRetryPause);
  }
}

}  // namespace ravnest::detail
