#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ravnest/comm/message.h"
#include "ravnest/config/node_config.h"
#include "ravnest/config/stage_routing.h"
#include "ravnest/node/node_metrics.h"
#include "ravnest/node/node_options.h"
#include "ravnest/pipeline/stage.h"

namespace ravnest {

/// One provider of a cluster: its stage, its server and clients, and its compute thread (see
/// docs/threading.md). The role follows from the node JSON: the root feeds micro-batches, stems pass
/// activations forward and gradients back, the leaf computes the loss; a one-node cluster is root and leaf.
///
/// Lifecycle: the constructor loads everything and starts listening; start() starts the compute thread,
/// which first waits for the peers. The root feeds work with forwardCompute()/evaluateBatch() and ends
/// training with finishTraining(), which sends the shutdown marker down the pipeline; the other nodes wait in
/// waitUntilStopped(). When any node fails (a hook throws, a neighbour misses its heartbeats, stop() is
/// called) it tells the other nodes of its cluster, and every waiting call on every node throws the failure,
/// with the type of the original error.
class Node {
 public:
  /// Reads `configPath` (node_data/nodes/node_<id>.json) and the routing it points to, relative to the
  /// working directory; loads the stage onto `options.device`; listens on the node's address.
  /// Throws ConfigError for bad metadata, NetworkError when the address cannot be bound.
  Node(const std::string& configPath, NodeOptions options = {});
  /// Stops the compute thread and the server. Must not run while a hook is waiting for this thread.
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// With NodeOptions::resume, before start(): tells every node of the job (NodeConfig::jobNodes) which
  /// checkpoints this node holds, learns theirs, and returns the newest backward-pass count that all of them
  /// hold: the consistent cut every stage restores. Throws ConfigError naming the nodes that were started
  /// without resume or lack a checkpoint, TimeoutError naming those that did not answer within
  /// options.startupTimeout. Every node answers such a request, resuming or not.
  uint64_t agreeOnResume();
  /// Before start(): the epoch and backward passes a restored checkpoint reached; counting (optimizer steps,
  /// averages, checkpoint marks) goes on from there.
  void resumeAt(TrainingProgress progress);

  /// Runs one throwaway pass of the stage (a warm-up, which leaves weights and random-number state as they
  /// were), then starts the compute thread. The leaf needs `hooks.leaf`; without `hooks.optimizer` weights
  /// stay fixed. Throws InvalidArgumentError for missing hooks or a second call.
  void start(NodeHooks hooks);

  /// Root only: feeds one training micro-batch (the model inputs by graph name) of `epoch`. Waits while the
  /// in-flight limit is reached. Thread-safe with the compute thread; call from one feeding thread.
  /// Throws the node's failure, TimeoutError after options.backwardTimeout, InvalidArgumentError on
  /// non-root nodes or for missing inputs.
  /// `batch` is its index within the epoch: the leaf takes the labels of that index.
  void forwardCompute(std::vector<NamedTensor> modelInputs, int64_t epoch, int64_t batch);
  /// Root only: feeds one validation micro-batch (no backward pass). Throws like forwardCompute().
  void evaluateBatch(std::vector<NamedTensor> modelInputs, int64_t epoch);
  /// Root only: runs one micro-batch through the pipeline in evaluation mode (no backward pass) and returns
  /// the model-output values (StageRouting::modelOutputValues) the last stage sends back. Blocks until they
  /// arrive; call from the feeding thread. Throws like forwardCompute().
  std::vector<NamedTensor> predict(std::vector<NamedTensor> modelInputs, int64_t epoch);
  /// Root only: marks the end of a validation pass; the leaf then reports its result.
  void endEvaluation(int64_t epoch);
  /// Root only: waits until every fed micro-batch finished its backward pass. Throws like forwardCompute().
  void waitForBackwards();
  /// Root only: waits for the backward passes, then sends the shutdown marker down the pipeline (every node
  /// saves its submodel first when `save`) and waits until this node stopped. Throws the node's failure.
  void finishTraining(bool save);

  /// Waits up to `timeout` for the compute thread to stop. Returns true once it stopped after the shutdown
  /// marker; throws the failure as soon as one stopped the node (the compute thread may still be ending).
  /// Thread-safe.
  bool waitUntilStopped(std::chrono::milliseconds timeout);
  /// Waits up to `timeout` for the compute thread to end, whatever the reason; true once it ended (or never
  /// started). Never throws: for saving the stage after a failure. Thread-safe.
  bool waitForComputeThread(std::chrono::milliseconds timeout);
  /// Stops this node and the rest of its cluster as a failure would (e.g. on SIGTERM): every waiting call
  /// here throws Error("<node> stopped: <reason>"), every other node of the cluster stops with it. Thread-safe.
  void stop(const std::string& reason);
  /// The epoch and backward passes of the compute thread once it ended; before, what resumeAt() set.
  TrainingProgress progress() const;

  /// Once the compute thread ended: false when a failure interrupted an optimizer step or an average, so the
  /// stage's state is none that progress() names (no checkpoint may be taken of it). Thread-safe.
  bool stoppedBetweenSteps() const;
  /// Whether the shutdown marker asked every node to save its submodel.
  bool saveRequested() const;
  /// Averages across clusters completed so far (0 with one cluster). Thread-safe.
  uint64_t clusterAverages() const;
  /// Calls refused for a missing or wrong job token, and messages rejected (malformed, from a sender that may
  /// not send them, NaN or Inf, duplicates), since start. Thread-safe.
  uint64_t refusedRequests() const;
  uint64_t rejectedMessages() const;
  /// What the node has done so far (see docs/node_data.md, "metrics/"): forward and backward passes,
  /// samples, optimizer steps, stashed weight versions, all-reduce time, and bytes per peer. Thread-safe.
  NodeMetricsSnapshot metrics() const;

  const NodeConfig& config() const;
  const StageRouting& routing() const;
  /// The stage's module. Touch its tensors only while the compute thread is not running.
  Stage& stage();
  /// The port the node listens on.
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ravnest
