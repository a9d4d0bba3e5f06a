#pragma once

#include <chrono>
#include <functional>
#include <set>
#include <string>

#include "ravnest/comm/transport_options.h"

namespace ravnest::detail {

/// How long peers may stay silent at startup before the waiting node says whom it waits for.
constexpr std::chrono::milliseconds kStillWaitingNotice{5000};

/// Called once with the addresses that have not answered after kStillWaitingNotice, so that a user who
/// started one provider sees at once which others to start, long before the timeout.
using StillWaiting = std::function<void(const std::set<std::string>& silent)>;

/// Pings every address in `addresses` as node `nodeName` until each one answered or `timeout` passed, and
/// returns the addresses that never answered (empty: all reachable). Used while peers may still be starting.
/// Each try uses a fresh channel, since a channel that failed to connect backs off for longer and longer.
/// Thread-safe. Throws what a PeerClient's constructor throws, and the AuthenticationError of a peer that is
/// running but refuses this node (another job token, a TLS mismatch), which no amount of waiting would change;
/// it throws that 3 s after the refusal, while the caller's server keeps answering, so that the peer is refused
/// in turn and stops too.
/// `abandoned` (may be empty) is asked between tries: once it says true (the node was stopped meanwhile) the wait
/// ends at once and returns nothing, so that a stopped node does not wait out the timeout for a peer that died.
std::set<std::string> unreachableAfter(const std::string& nodeName, std::set<std::string> addresses,
                                       const TransportOptions& options, std::chrono::milliseconds timeout,
                                       const StillWaiting& stillWaiting = {},
                                       const std::function<bool()>& abandoned = {});

}  // namespace ravnest::detail
