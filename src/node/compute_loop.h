#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "node/cluster_averaging.h"
#include "node/in_flight_window.h"
#include "node/micro_batch_meta.h"
#include "node/outbox.h"
#include "node/peer_links.h"
#include "node/prediction_mailbox.h"
#include "node/stage_clock.h"
#include "node/stage_plan.h"
#include "ravnest/config/node_config.h"
#include "ravnest/node/node_metrics.h"
#include "ravnest/node/node_options.h"
#include "ravnest/pipeline/scheduler.h"
#include "ravnest/pipeline/stage.h"

namespace ravnest::detail {

/// The work of a node's compute thread: it takes work from the scheduler, in the order its SchedulePolicy picks
/// (1F1B: backward before forward; zb: a ready forward right after a B, deferred W passes when idle), and
/// - assembles a micro-batch's parts and runs its forward pass once all arrived: the leaf computes the loss
///   and back-propagates at once; other stages keep what the backward pass needs (with recompute, the inputs
///   and RNG state under no-grad; without, the autograd graph) and send their outputs on;
/// - sums a micro-batch's gradient parts and runs its backward pass once every consumer answered, then sends
///   the input gradients back to the stages they came from;
/// - steps the optimizer every `updateFrequency` backward passes and the learning-rate scheduler per epoch
///   or per step;
/// - averages the stage's state with the other clusters periodically and at the shutdown marker;
/// - passes the validation-end and shutdown markers down the chain; stops at the shutdown marker;
/// - on the last stage, answers prediction micro-batches with their model output, sent to the root.
/// Peers' aborts and heartbeats are the node's business (Node::Impl, HeartbeatMonitor), not this loop's.
/// Everything here runs on the compute thread; nothing is shared.
class ComputeLoop {
 public:
  struct Context {
    const NodeConfig& config;
    const StagePlan& plan;
    const NodeOptions& options;
    TrainingProgress resumeFrom;
    NodeHooks hooks;
    Stage& stage;
    Scheduler& scheduler;
    PeerLinks& links;
    const DeviceCopies& copies;
    InFlightWindow& window;
    PredictionMailbox& predictions;
    ClusterAveraging& averaging;
    NodeMetrics& metrics;
    /// Called once the start-up wait reached every pipeline peer (the heartbeats then judge them).
    std::function<void()> peersReachable;
  };

  explicit ComputeLoop(Context context);

  /// Waits for the peers, then works until the shutdown marker, or until the scheduler is closed and drained
  /// (the node is closed or stopped early). Throws the first failure: a hook's error, a network error.
  void runOnComputeThread();

  bool saveRequested() const { return saveRequested_; }
  /// Whether the loop ended at the shutdown marker (not because the node was closed or stopped early).
  bool finishedTraining() const { return !running_; }
  /// The epoch and backward passes so far (counting on from Context::resumeFrom).
  TrainingProgress progress() const { return {epoch_, backwardPasses_}; }
  /// False while an optimizer step or an average is under way (and after one that threw): the state is then
  /// between two counts.
  bool betweenSteps() const { return !stepping_; }

 private:
  struct Assembly {
    MicroBatchMeta meta;
    std::map<std::string, at::Tensor> values;
    std::map<std::string, int> senderOf;
  };
  struct AwaitingGradients {
    int64_t epoch = 0;
    size_t expected = 0;
    size_t received = 0;
    std::map<std::string, at::Tensor> gradients;  // summed over consumers, by output name
    std::map<std::string, int> senderOf;          // where each input came from
  };

  void handle(Scheduler::Work work);
  void handle(Message work);
  void onActivationPart(Message part);
  /// The forward stream's order: micro-batch ids are handed out by the root in feeding order, markers
  /// included, and every stage runs every id once. A marker is held until every id before it ran here: on a
  /// stage fed by several producers, a marker from one link could otherwise overtake a micro-batch still
  /// waiting for its part from another link.
  void markRan(uint64_t id);
  void releaseHeldMarkers();
  void onMarker(uint64_t id, const MicroBatchMeta& meta);
  void runMicroBatch(uint64_t id, Assembly assembly);
  void trainOnLeaf(uint64_t id, Assembly& assembly, const std::vector<at::Tensor>& inputs);
  void forwardForLater(uint64_t id, Assembly& assembly, std::vector<at::Tensor> inputs);
  void evaluate(uint64_t id, Assembly& assembly, const std::vector<at::Tensor>& inputs);
  void answerPrediction(uint64_t id, std::vector<NamedTensor> modelOutput);
  void sendOn(uint64_t id, const MicroBatchMeta& meta, const std::map<std::string, at::Tensor>& values);
  void onGradientPart(Message part);
  void runBackward(uint64_t id, AwaitingGradients awaiting);
  void sendGradients(uint64_t id, const std::map<std::string, at::Tensor>& gradients,
                     const std::map<std::string, int>& senderOf);
  /// After B: the micro-batch is done (1F1B), or its W waits for idle time (ZB).
  void afterInputGradients(uint64_t id);
  void runDeferredWeightPass();
  void runAllDeferredWeightPasses();
  /// The backward pass of a micro-batch is complete: optimizer step when due; the root frees its slot.
  void finishMicroBatch();
  void finishBackward();
  /// After the backward pass that made `backwardPasses_`: the checkpoint the root marked for it, if any.
  void checkpointIfMarked();
  /// Queues `message` for the node of `stage`; it is sent on that peer's outbox thread.
  void post(int stage, Message message, CodecKind codec);
  void enterEpoch(int64_t epoch);
  /// Counts a training micro-batch's forward pass and its rows (samples).
  void recordForward(const std::vector<at::Tensor>& inputs);
  /// The weight stash's size now.
  void recordStash();

  Context context_;
  CodecKind codec_;
  std::map<uint64_t, Assembly> assembling_;
  std::map<uint64_t, AwaitingGradients> awaiting_;
  std::deque<uint64_t> deferredWeight_;  // micro-batches whose W waits, oldest first
  uint64_t nextToRun_ = 0;               // the lowest forward-stream id that has not run here
  std::set<uint64_t> ranAhead_;          // ids above nextToRun_ that ran
  std::map<uint64_t, MicroBatchMeta> heldMarkers_;  // markers waiting for the ids before them
  std::set<uint64_t> checkpointsAt_;     // backward-pass counts after which to take a checkpoint
  std::map<int, std::unique_ptr<Outbox>> outboxes_;
  StageClock clock_{context_.metrics};
  int64_t epoch_ = 0;
  uint64_t backwardPasses_ = 0;
  bool running_ = true;
  bool stepping_ = false;
  bool saveRequested_ = false;
};

}  // namespace ravnest::detail
