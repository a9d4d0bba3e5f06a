#pragma once

#include <string>

#include "ravnest/config/node_config.h"

namespace ravnest::detail {

/// Most clusters one job may have: bounds what a ring layout allocates per ring (one offset per cluster).
constexpr int kMaxRingSize = 1 << 16;

/// Checks a node's place in the all-reduce plan (the node JSON's `ring_size`, `rank` and `rings`) before
/// anything is built from it: a ring size in [1, kMaxRingSize] and a rank inside it; every ring names at least
/// one tensor with one non-negative element count each, whose sum fits the reduction buffers; ring ids are
/// distinct and below 2^31, where the optimizer state's twins begin; in a job of several clusters, every ring
/// knows where it sends. Throws ConfigError naming `path` and the ring.
void validateRingPlan(const NodeConfig& config, const std::string& path);

}  // namespace ravnest::detail
