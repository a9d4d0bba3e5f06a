#include "node/cluster_averaging.h"

#include <unordered_map>

#include "ravnest/common/logging.h"

namespace ravnest::detail {

ClusterAveraging::ClusterAveraging(PeerServer& server, const NodeConfig& config, const NodeOptions& options)
    : reduceEvery_(options.reduceEvery) {
  if (config.ringSize <= 1 || config.rings.empty()) return;
  std::vector<RingSpec> rings;
  for (const auto& ring : config.rings) rings.push_back({ring.ringId, ring.params, ring.numels, ring.nextAddress});
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

void ClusterAveraging::afterBackward(Stage& stage, uint64_t backwardPasses) {
  if (enabled() && reduceEvery_ > 0 && backwardPasses % static_cast<uint64_t>(reduceEvery_) == 0) average(stage);
}

void ClusterAveraging::onEpochChange(Stage& stage) {
  if (enabled() && reduceEvery_ == 0) average(stage);
}

void ClusterAveraging::atEnd(Stage& stage) {
  if (enabled()) average(stage);
}

void ClusterAveraging::average(Stage& stage) {
  // The state dict's tensors themselves (parameters and buffers share storage with the module): averaging
  // writes into them. Micro-batches still in flight keep their weight version through the stash.
  std::unordered_map<std::string, at::Tensor> tensors;
  for (const auto& [name, tensor] : stage.namedParameters()) tensors.emplace(name, tensor);
  for (const auto& [name, tensor] : stage.namedBuffers()) tensors.emplace(name, tensor);
  stage.beforeUpdate();
  reducer_->averageInPlace(tensors);
}

}  // namespace ravnest::detail
