#pragma once

#include <vector>

#include "ravnest/comm/traffic_counters.h"
#include "ravnest/config/node_config.h"
#include "ravnest/node/node_metrics.h"

namespace ravnest::detail {

/// Joins a node's traffic counters into one entry per peer. Sends are counted by address and receipts by the
/// sender's name; the node JSON (cluster members and ring neighbours) pairs the two. A peer it does not list
/// keeps the one key it was counted under.
std::vector<PeerTraffic> peerTraffic(const NodeConfig& config, const TrafficCounters& traffic);

}  // namespace ravnest::detail
