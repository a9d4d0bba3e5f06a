#include "node/cluster_averaging.h"

#include <chrono>
#include <set>
#include <string>
#include <unordered_map>

#include "comm/reachability.h"
#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

/// The twin of `ring` over the optimizer state of its parameters; no names when it holds only buffers.
RingSpec optimizerStateRing(const RingMembership& ring, const std::set<std::string>& parameters,
                            const OptimizerStateLayout& layout) {
  RingSpec twin{ClusterAveraging::kOptimizerRingIdOffset + ring.ringId, {}, {}, ring.nextAddress,
                ring.previousAddress, ring.previousNodeName()};
  for (size_t i = 0; i < ring.params.size(); ++i) {
    if (parameters.count(ring.params[i]) == 0) continue;
    for (const auto& key : layout.shapedKeys) {
      twin.tensorNames.push_back(ring.params[i] + "." + key);
      twin.numels.push_back(ring.numels[i]);
    }
    for (const auto& key : layout.scalarKeys) {
      twin.tensorNames.push_back(ring.params[i] + "." + key);
      twin.numels.push_back(1);
    }
  }
  return twin;
}

}  // namespace

ClusterAveraging::ClusterAveraging(PeerServer& server, const NodeConfig& config, const NodeOptions& options,
                                   const Stage& stage, NodeMetrics& metrics)
    : nodeName_(config.name()),
      transport_(options.transport),
      reduceEvery_(options.reduceEvery),
      averagesOptimizerState_(!options.optimizerState.empty()),
      metrics_(metrics) {
  if (config.ringSize <= 1 || config.rings.empty()) return;
  std::set<std::string> parameters;
  for (const auto& [name, tensor] : stage.namedParameters()) parameters.insert(name);
  std::vector<RingSpec> rings;
  for (const auto& ring : config.rings) {
    RAVNEST_CHECK(ring.ringId < kOptimizerRingIdOffset, config.name(), ": ring id ", ring.ringId,
                  " is in the optimizer state's range");
    rings.push_back({ring.ringId, ring.params, ring.numels, ring.nextAddress, ring.previousAddress,
                     ring.previousNodeName()});
    ringPeers_.insert(ring.nextAddress);
    if (!averagesOptimizerState_) continue;
    RingSpec twin = optimizerStateRing(ring, parameters, options.optimizerState);
    if (!twin.tensorNames.empty()) rings.push_back(std::move(twin));
  }
  RingAllReduceOptions ringOptions;
  ringOptions.codec = options.ringCodec;
  ringOptions.transport = options.transport;
  // The other clusters may be up to one averaging interval behind this one: waiting for their chunks is like
  // waiting for backward passes.
  ringOptions.chunkDeadline = options.backwardTimeout;
  reducer_ = std::make_unique<RingAllReduce>(server, config.name(), config.rank, config.ringSize, std::move(rings),
                                             ringOptions);
}

ClusterAveraging::~ClusterAveraging() = default;

void ClusterAveraging::waitForRingPeers(std::chrono::milliseconds timeout, const std::function<bool()>& stopped) const {
  if (!enabled()) return;
  const auto joined = [](const std::set<std::string>& addresses) {
    std::string text;
    for (const auto& address : addresses) text += (text.empty() ? "" : ", ") + address;
    return text;
  };
  const std::string seconds = std::to_string(timeout.count() / 1000);
  const auto silent = unreachableAfter(nodeName_, ringPeers_, transport_, timeout, [&](const auto& waiting) {
    logger(nodeName_)->warn("waiting for the all-reduce peers {} to answer: start the other clusters' providers "
                            "(giving up after {} s)", joined(waiting), seconds);
  }, stopped);
  if (silent.empty()) return;
  throw TimeoutError(nodeName_ + ": the all-reduce peers " + joined(silent) + " did not answer within " + seconds +
                     " s: start the other clusters' providers");
}

void ClusterAveraging::afterBackward(Stage& stage, OptimizerHook* optimizer, uint64_t backwardPasses) {
  if (enabled() && reduceEvery_ > 0 && backwardPasses % static_cast<uint64_t>(reduceEvery_) == 0) {
    average(stage, optimizer);
  }
}

void ClusterAveraging::onEpochChange(Stage& stage, OptimizerHook* optimizer) {
  if (enabled() && reduceEvery_ == 0) average(stage, optimizer);
}

void ClusterAveraging::atEnd(Stage& stage, OptimizerHook* optimizer) {
  if (enabled()) average(stage, optimizer);
}

void ClusterAveraging::average(Stage& stage, OptimizerHook* optimizer) {
  // The state dict's tensors themselves (parameters and buffers share storage with the module): averaging
  // writes into them. Micro-batches still in flight keep their weight version through the stash.
  std::unordered_map<std::string, at::Tensor> tensors;
  for (const auto& [name, tensor] : stage.namedParameters()) tensors.emplace(name, tensor);
  for (const auto& [name, tensor] : stage.namedBuffers()) tensors.emplace(name, tensor);
  // Between two optimizer steps, so the state is not being updated: the hook hands over its live tensors.
  if (averagesOptimizerState_ && optimizer != nullptr) {
    for (auto& named : optimizer->stateTensors()) tensors.emplace(std::move(named.name), std::move(named.tensor));
  }
  stage.beforeUpdate();
  const auto started = std::chrono::steady_clock::now();
  reducer_->averageInPlace(tensors);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_.add("all_reduces", 1);
  metrics_.add("all_reduce_seconds", seconds);
  metrics_.set("last_all_reduce_seconds", seconds);
}

}  // namespace ravnest::detail
