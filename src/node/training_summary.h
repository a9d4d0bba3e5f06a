#pragma once

#include <string>

#include "ravnest/node/node_metrics.h"

namespace ravnest::detail {

/// The one line a node prints when its training ends: busy seconds per kind of work (F, B, W, optimizer,
/// all-reduce), idle seconds of the wall time and the bubble fraction, and the bytes it received and sent.
std::string trainingSummary(const std::string& nodeName, const NodeMetricsSnapshot& snapshot);

}  // namespace ravnest::detail
