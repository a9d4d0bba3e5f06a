#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "ravnest/comm/transport_options.h"
#include "ravnest/pipeline/hooks.h"
#include "ravnest/pipeline/schedule_policy.h"
#include "ravnest/tensor/codec.h"

namespace ravnest {

/// The optimizer's per-parameter state entries, e.g. Adam's {exp_avg, exp_avg_sq} and {step}.
struct OptimizerStateLayout {
  std::vector<std::string> shapedKeys;  // tensors of the parameter's shape (moments, momentum buffers)
  std::vector<std::string> scalarKeys;  // one-element tensors (step counters)

  bool empty() const { return shapedKeys.empty() && scalarKeys.empty(); }
};

/// Where a node's training stands: the epoch its compute thread is in and the backward passes it ran (which
/// decide when the optimizer steps and the clusters average). Saved in a checkpoint, restored on resume.
struct TrainingProgress {
  int64_t epoch = 0;
  uint64_t backwardPasses = 0;
};

/// How a node trains. The defaults follow the original Ravnest.
struct NodeOptions {
  c10::Device device{c10::kCPU};
  /// Backward passes per optimizer step (gradient accumulation).
  int updateFrequency = 1;
  /// Training micro-batches the root lets into the pipeline at once; 0 means the cluster's length. 1 makes
  /// training synchronous: every micro-batch finishes its backward pass before the next one starts.
  int maxInFlight = 0;
  /// The pipeline schedule: 1F1B, or zero bubble (ZB-H1: weight gradients deferred to idle time).
  ScheduleKind schedule = ScheduleKind::kOneFOneB;
  /// true: stages recompute their forward pass for the backward pass; false: they keep the autograd graph
  /// of each micro-batch in flight (faster, more memory; see clusterize's memory estimate).
  bool recompute = true;
  /// true: the learning-rate scheduler steps when an epoch ends; false: after every optimizer step.
  bool lrStepOnEpochChange = true;
  /// How floating activations and gradients travel between the stages (the original's compression=True is
  /// kFp16). The receiver decodes whatever codec a message names, so nodes of one cluster may differ.
  CodecKind pipelineCodec = CodecKind::kNone;
  /// With several clusters: backward passes between two averages of the replicas' parameters and buffers
  /// (the original's update_frequency * reduce_factor); 0 averages at every epoch change. A final average
  /// always runs at the end of training.
  int64_t reduceEvery = 0;
  /// With several clusters: the optimizer state averaged with the parameters (the original's average_optim),
  /// by state key. Empty: none. OptimizerHook::stateTensors() must then hand over every listed entry.
  OptimizerStateLayout optimizerState;
  /// Codec of the all-reduce chunks; the reduction itself is done in float32.
  CodecKind ringCodec = CodecKind::kNone;
  /// This node resumes from a checkpoint (Node::agreeOnResume, Node::resumeAt), and holds checkpoints at these
  /// backward-pass counts; the other nodes of the job learn both from it.
  bool resume = false;
  std::vector<uint64_t> checkpoints;
  /// How often the root marks a training micro-batch after which every stage of the cluster (and, with
  /// several clusters, of every cluster) takes a checkpoint (NodeHooks::checkpoint); 0: never. Only the
  /// root's setting (the first cluster's root, with several clusters) decides.
  std::chrono::milliseconds checkpointInterval{std::chrono::seconds(60)};
  /// Deadlines. Every wait of a node is bounded by one of these or by transport.deadline (a send or ping,
  /// waiting for room in the peer's inbox included); docs/errors.md lists them.
  TransportOptions transport;
  /// How long a node waits for its peers to come up.
  std::chrono::milliseconds startupTimeout{std::chrono::seconds(120)};
  /// Longest wait for room in the pipeline or for the outstanding backward passes, and for another
  /// cluster's all-reduce chunk.
  std::chrono::milliseconds backwardTimeout{std::chrono::minutes(30)};
  /// How often a node pings its pipeline neighbours (heartbeats).
  std::chrono::milliseconds heartbeatInterval{std::chrono::seconds(1)};
  /// How long a neighbour may leave the heartbeats unanswered before the node stops, naming it.
  std::chrono::milliseconds peerLossGrace{std::chrono::seconds(10)};
};

/// The user code a node calls. The optimizer is needed to train; the leaf hook is needed on the leaf.
struct NodeHooks {
  std::shared_ptr<OptimizerHook> optimizer;
  std::shared_ptr<LrSchedulerHook> lrScheduler;
  std::shared_ptr<LeafHook> leaf;
  /// Periodic checkpoints (NodeOptions::checkpointInterval); none without it.
  std::shared_ptr<CheckpointHook> checkpoint;
};

}  // namespace ravnest
