#pragma once

#include <chrono>
#include <set>
#include <string>

#include "ravnest/comm/transport_options.h"

namespace ravnest::detail {

/// Pings every address in `addresses` as node `nodeName` until each one answered or `timeout` passed, and
/// returns the addresses that never answered (empty: all reachable). Used while peers may still be starting.
/// Each try uses a fresh channel, since a channel that failed to connect backs off for longer and longer.
/// Thread-safe; throws only what a PeerClient's constructor throws.
std::set<std::string> unreachableAfter(const std::string& nodeName, std::set<std::string> addresses,
                                       const TransportOptions& options, std::chrono::milliseconds timeout);

}  // namespace ravnest::detail
