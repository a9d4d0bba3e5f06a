#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "ravnest/collectives/ring_all_reduce.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/config/node_config.h"
#include "ravnest/node/node_metrics.h"
#include "ravnest/node/node_options.h"
#include "ravnest/pipeline/hooks.h"
#include "ravnest/pipeline/stage.h"

namespace ravnest::detail {

/// Keeps the clusters' replicas together: averages this stage's parameters and persistent buffers with the
/// nodes of the other clusters that hold the same state-dict entries, over the rings of the node JSON.
///
/// When: every `options.reduceEvery` backward passes (counted right after an optimizer step could run), or
/// at every epoch change when reduceEvery is 0; and once more at the end of training (the shutdown marker),
/// on every node. Every node of every cluster then averages the same number of times, which the rings need.
/// The averaged weights become a new weight version: micro-batches forwarded before keep the version they
/// used (Stage::beforeUpdate()).
///
/// Optimizer state (`options.optimizerState`): each ring of the node JSON gets a twin ring, with id
/// kOptimizerRingIdOffset + its id, over the state entries `<parameter>.<key>` of the ring's parameters (not
/// its buffers). The plan is the same on every member, so every member derives the same twins, and they run in
/// the same rounds as the parameters' rings (one RingAllReduce: a server takes one ring-chunk validator).
///
/// Built before the node's server takes ring chunks from peers; used on the compute thread only.
class ClusterAveraging {
 public:
  /// Ring ids at or above this are the optimizer state's twins; clusterize numbers its rings from 0.
  static constexpr uint32_t kOptimizerRingIdOffset = uint32_t{1} << 31;

  /// Does nothing at all when the node's config has one cluster. Throws InvalidArgumentError when a ring id
  /// of the node JSON collides with the twins' range.
  /// Records each average's duration in `metrics` (all_reduces, all_reduce_seconds, last_all_reduce_seconds),
  /// which must outlive this object.
  ClusterAveraging(PeerServer& server, const NodeConfig& config, const NodeOptions& options, const Stage& stage,
                   NodeMetrics& metrics);
  ~ClusterAveraging();

  bool enabled() const { return reducer_ != nullptr; }
  /// Waits until the next member of every ring answers a ping: a cluster that needs no other node of its own
  /// may reach its first average before the other clusters listen. Throws TimeoutError naming those that never
  /// answered within `timeout`.
  void waitForRingPeers(std::chrono::milliseconds timeout, const std::function<bool()>& stopped = {}) const;
  /// Averages completed so far. Thread-safe.
  uint64_t completed() const { return enabled() ? reducer_->rounds() : 0; }
  /// After each backward pass: averages when the periodic interval is reached.
  void afterBackward(Stage& stage, OptimizerHook* optimizer, uint64_t backwardPasses);
  /// When the stage meets the first backward pass of a new epoch (per-epoch mode only).
  void onEpochChange(Stage& stage, OptimizerHook* optimizer);
  /// At the shutdown marker: the final average.
  void atEnd(Stage& stage, OptimizerHook* optimizer);

 private:
  void average(Stage& stage, OptimizerHook* optimizer);

  const std::string nodeName_;
  const TransportOptions transport_;
  std::set<std::string> ringPeers_;  // the next member of each ring
  const int64_t reduceEvery_;
  const bool averagesOptimizerState_;
  NodeMetrics& metrics_;
  std::unique_ptr<RingAllReduce> reducer_;
};

}  // namespace ravnest::detail
