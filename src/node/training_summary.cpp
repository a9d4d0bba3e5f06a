#include "node/training_summary.h"

#include <cstdio>

namespace ravnest::detail {
namespace {

double figure(const NodeMetricsSnapshot& snapshot, const std::string& name) {
  const auto found = snapshot.figures.find(name);
  return found == snapshot.figures.end() ? 0.0 : found->second;
}

}  // namespace

std::string trainingSummary(const std::string& nodeName, const NodeMetricsSnapshot& snapshot) {
  uint64_t received = 0;
  uint64_t sent = 0;
  for (const auto& peer : snapshot.peers) {
    received += peer.bytesReceived;
    sent += peer.bytesSent;
  }
  constexpr double kMegabyte = 1e6;
  char line[512];
  std::snprintf(line, sizeof line,
                "%s finished: busy F %.2f s, B %.2f s, W %.2f s, optimizer %.2f s, all-reduce %.2f s; idle %.2f s "
                "of %.2f s (bubble %.3f); %.1f MB in, %.1f MB out",
                nodeName.c_str(), figure(snapshot, "forward_seconds"), figure(snapshot, "backward_seconds"),
                figure(snapshot, "weight_seconds"), figure(snapshot, "optimizer_seconds"),
                figure(snapshot, "all_reduce_seconds"), figure(snapshot, "idle_seconds"),
                figure(snapshot, "wall_seconds"), figure(snapshot, "bubble_fraction"), received / kMegabyte,
                sent / kMegabyte);
  return line;
}

}  // namespace ravnest::detail
