#pragma once

#include <cstdint>
#include <memory>

#include "ravnest/collectives/ring_all_reduce.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/config/node_config.h"
#include "ravnest/node/node_options.h"
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
/// Built before the node's server takes ring chunks from peers; used on the compute thread only.
class ClusterAveraging {
 public:
  /// Does nothing at all when the node's config has one cluster.
  ClusterAveraging(PeerServer& server, const NodeConfig& config, const NodeOptions& options);
  ~ClusterAveraging();

  bool enabled() const { return reducer_ != nullptr; }
  /// After each backward pass: averages when the periodic interval is reached.
  void afterBackward(Stage& stage, uint64_t backwardPasses);
  /// When the stage meets the first backward pass of a new epoch (per-epoch mode only).
  void onEpochChange(Stage& stage);
  /// At the shutdown marker: the final average.
  void atEnd(Stage& stage);

 private:
  void average(Stage& stage);

  const int64_t reduceEvery_;
  std::unique_ptr<RingAllReduce> reducer_;
};

}  // namespace ravnest::detail
