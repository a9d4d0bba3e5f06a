#pragma once

#include <array>
#include <chrono>

#include "ravnest/node/node_metrics.h"

namespace ravnest::detail {

/// Where a stage's compute thread spends its time: busy per kind of work, idle while it waits for input. Each
/// addition updates the node's figures (NodeMetrics), so a snapshot taken at any time has them:
/// `forward_seconds` (F, evaluation included; on the last stage F and the loss), `backward_seconds` (B; with
/// 1F1B, B and W together), `weight_seconds` (W, deferred by ZB), `optimizer_seconds`, `idle_seconds`,
/// `wall_seconds` since the stage was ready, and `bubble_fraction` = idle / wall. The all-reduce's time is
/// `all_reduce_seconds` (ClusterAveraging). Compute thread only.
class StageClock {
 public:
  using Clock = std::chrono::steady_clock;
  enum Busy { kForward, kBackward, kWeight, kOptimizer, kBusyKinds };

  explicit StageClock(NodeMetrics& metrics) : metrics_(metrics) {}

  static Clock::time_point now() { return Clock::now(); }
  /// Wall time counts from here (the stage is ready: its peers answered).
  void start();
  void addBusy(Busy kind, Clock::duration duration);
  void addIdle(Clock::duration duration);
  /// Updates `wall_seconds` and `bubble_fraction` to now (each addition does too).
  void publishWall();

 private:

  NodeMetrics& metrics_;
  Clock::time_point started_{};
  std::array<double, kBusyKinds> busy_{};
  double idle_ = 0;
};

}  // namespace ravnest::detail
