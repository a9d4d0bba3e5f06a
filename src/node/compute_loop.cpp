#include "node/compute_loop.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

// How long the compute thread waits for work before it looks again whether the node is being closed.
constexpr std::chrono::milliseconds kIdleCheck{1000};

at::Tensor valueOf(const std::map<std::string, at::Tensor>& values, const std::string& name) {
  auto found = values.find(name);
  return found == values.end() ? at::Tensor() : found->second;
}

}  // namespace

ComputeLoop::ComputeLoop(Context context)
    : context_(std::move(context)),
      codec_(context_.options.pipelineCodec),
      epoch_(context_.resumeFrom.epoch),
      backwardPasses_(context_.resumeFrom.backwardPasses) {}

void ComputeLoop::runOnComputeThread() {
  // A node stopped while it waits (a peer's abort) ends the wait at once; the loop below then sees it closed.
  const auto stopped = [this] { return context_.scheduler.closed(); };
  context_.links.waitUntilReachable(context_.plan.peers(), context_.options.startupTimeout, stopped);
  context_.peersReachable();
  context_.averaging.waitForRingPeers(context_.options.startupTimeout, stopped);
  logger(context_.config.name())->info("stage {} of {} ready", context_.plan.stage, context_.plan.lastStage + 1);
  clock_.start();
  while (running_) {
    const auto waitStarted = StageClock::now();
    auto work = context_.scheduler.next(kIdleCheck);
    clock_.addIdle(StageClock::now() - waitStarted);
    if (!work && context_.scheduler.closed()) return;  // the node is being closed, or stopped early
    if (work) handle(std::move(*work));
  }
  // The shutdown marker and the last gradients leave before the compute thread ends.
  for (auto& [stage, outbox] : outboxes_) outbox->close();
  clock_.publishWall();
}

void ComputeLoop::handle(Scheduler::Work work) {
  if (work.kind == WorkKind::kWeight) {
    runDeferredWeightPass();
    return;
  }
  handle(std::move(work.message));
}

void ComputeLoop::handle(Message work) {
  context_.copies.adopt(work);
  switch (work.kind) {
    case MessageKind::kActivation:
      onActivationPart(std::move(work));
      break;
    case MessageKind::kGradient:
      onGradientPart(std::move(work));
      break;
    case MessageKind::kControl:  // aborts and farewells go to the node itself (Node::Impl)
    case MessageKind::kRingChunk:
      throw ProtocolError(context_.config.name() + ": " + messageKindName(work.kind) +
                          " messages are not handled by the pipeline");
  }
}

void ComputeLoop::onActivationPart(Message part) {
  const MicroBatchMeta meta = takeMeta(part);
  if (meta.kind == StreamKind::kEvalEnd || meta.kind == StreamKind::kShutdown) {
    RAVNEST_CHECK_AS(ProtocolError, part.id >= nextToRun_ && heldMarkers_.count(part.id) == 0 &&
                                        ranAhead_.count(part.id) == 0,
                     context_.config.name(), ": ", part.sender, " sent a marker with micro-batch id ", part.id,
                     ", which already ran");
    heldMarkers_.emplace(part.id, meta);
    releaseHeldMarkers();
    return;
  }
  if (meta.kind == StreamKind::kPrediction) {
    context_.predictions.deliver(part.id, std::move(part.tensors));
    return;
  }
  const int sender = context_.links.stageOf(part.sender);
  auto& assembly = assembling_[part.id];
  assembly.meta = meta;
  for (auto& named : part.tensors) {
    assembly.senderOf[named.name] = sender;
    assembly.values[named.name] = std::move(named.tensor);
  }
  const auto& required = context_.plan.requiredValues;
  const bool complete = std::all_of(required.begin(), required.end(),
                                    [&](const std::string& name) { return assembly.values.count(name) > 0; });
  if (!complete) return;
  Assembly ready = std::move(assembly);
  assembling_.erase(part.id);
  runMicroBatch(part.id, std::move(ready));
  markRan(part.id);
  releaseHeldMarkers();
}

void ComputeLoop::markRan(uint64_t id) {
  if (id < nextToRun_) return;  // only a misbehaving sender repeats an id; it must not stall the stream
  if (id != nextToRun_) {
    ranAhead_.insert(id);
    return;
  }
  ++nextToRun_;
  while (!ranAhead_.empty() && *ranAhead_.begin() == nextToRun_) {
    ranAhead_.erase(ranAhead_.begin());
    ++nextToRun_;
  }
}

void ComputeLoop::releaseHeldMarkers() {
  // A marker that shared its id with a micro-batch (only a misbehaving sender does that) would hold every
  // later marker back.
  while (!heldMarkers_.empty() && heldMarkers_.begin()->first < nextToRun_) {
    logger(context_.config.name())->warn("dropped a marker whose id {} a micro-batch had", heldMarkers_.begin()->first);
    heldMarkers_.erase(heldMarkers_.begin());
  }
  while (running_ && !heldMarkers_.empty() && heldMarkers_.begin()->first == nextToRun_) {
    const auto [id, meta] = *heldMarkers_.begin();
    heldMarkers_.erase(heldMarkers_.begin());
    onMarker(id, meta);
    markRan(id);
  }
}

void ComputeLoop::onMarker(uint64_t id, const MicroBatchMeta& meta) {
  runAllDeferredWeightPasses();  // what follows a marker sees every update of the micro-batches before it
  const bool last = context_.plan.isLast();
  if (!last) {
    Message marker;
    marker.kind = MessageKind::kActivation;
    marker.id = id;  // its place in the stream, which the next stage orders it by
    attachMeta(marker, meta);
    post(context_.plan.stage + 1, std::move(marker), CodecKind::kNone);
  }
  if (meta.kind == StreamKind::kShutdown) {
    // After passing the marker on, so the next stages start their final average at the same time.
    for (auto& [stage, outbox] : outboxes_) outbox->close();
    context_.averaging.atEnd(context_.stage, context_.hooks.optimizer.get());
    saveRequested_ = meta.save;
    running_ = false;
  } else if (last) {
    context_.hooks.leaf->endEvaluation();
  }
}

void ComputeLoop::runMicroBatch(uint64_t id, Assembly assembly) {
  std::vector<at::Tensor> inputs;
  for (const auto& name : context_.plan.inputNames) inputs.push_back(assembly.values.at(name));
  if (assembly.meta.kind == StreamKind::kTrain && assembly.meta.checkpointAt > 0) {
    checkpointsAt_.insert(assembly.meta.checkpointAt);
  }
  if (assembly.meta.kind == StreamKind::kEval || assembly.meta.kind == StreamKind::kPredict) {
    runAllDeferredWeightPasses();  // evaluation sees the same weights as under 1F1B
    evaluate(id, assembly, inputs);
  } else if (context_.plan.isLast()) {
    trainOnLeaf(id, assembly, inputs);
  } else {
    forwardForLater(id, assembly, std::move(inputs));
  }
}

void ComputeLoop::trainOnLeaf(uint64_t id, Assembly& assembly, const std::vector<at::Tensor>& inputs) {
  enterEpoch(assembly.meta.epoch);
  recordForward(inputs);
  const auto forwardStarted = StageClock::now();
  Stage::Pass pass = context_.stage.forwardForLoss(id, inputs);
  // What the graph sees: the stage's arguments and outputs, and model-output values made elsewhere.
  std::map<std::string, at::Tensor> seen;
  for (size_t i = 0; i < pass.inputs.size(); ++i) seen[context_.plan.inputNames[i]] = pass.inputs[i];
  for (size_t i = 0; i < pass.outputs.size(); ++i) seen[context_.plan.outputNames[i]] = pass.outputs[i];
  std::vector<NamedTensor> modelOutput;
  std::vector<std::string> extraNames;
  std::vector<at::Tensor> extraLeaves;
  for (const auto& name : context_.plan.modelOutputValues) {
    if (seen.count(name) == 0) {
      at::Tensor received = assembly.values.at(name).to(context_.stage.device()).detach();
      seen[name] = received.is_floating_point() ? received.requires_grad_() : received;
      extraNames.push_back(name);
      extraLeaves.push_back(seen[name]);
    }
    modelOutput.push_back({name, seen[name]});
  }
  const at::Tensor loss =
      context_.hooks.leaf->loss(modelOutput, {id, assembly.meta.epoch, assembly.meta.batch});
  RAVNEST_CHECK(loss.defined() && loss.numel() == 1 && loss.requires_grad(), context_.config.name(),
                ": the loss must be a scalar tensor computed from the model output");
  clock_.addBusy(StageClock::kForward, StageClock::now() - forwardStarted);
  const auto backwardStarted = StageClock::now();
  const auto inputGrads = context_.stage.backwardInputsFromLoss(id, loss, extraLeaves);
  clock_.addBusy(StageClock::kBackward, StageClock::now() - backwardStarted);
  std::map<std::string, at::Tensor> gradients;
  for (size_t i = 0; i < pass.inputs.size(); ++i) gradients[context_.plan.inputNames[i]] = inputGrads[i];
  for (size_t i = 0; i < extraNames.size(); ++i) gradients[extraNames[i]] = inputGrads[pass.inputs.size() + i];
  sendGradients(id, gradients, assembly.senderOf);
  afterInputGradients(id);
}

void ComputeLoop::forwardForLater(uint64_t id, Assembly& assembly, std::vector<at::Tensor> inputs) {
  recordForward(inputs);
  const auto forwardStarted = StageClock::now();
  const auto outputs = context_.stage.forwardStashed(id, std::move(inputs));
  clock_.addBusy(StageClock::kForward, StageClock::now() - forwardStarted);
  recordStash();
  AwaitingGradients awaiting;
  awaiting.epoch = assembly.meta.epoch;
  awaiting.expected = context_.plan.sendsTo.size();
  awaiting.senderOf = assembly.senderOf;
  awaiting_.emplace(id, std::move(awaiting));
  for (size_t i = 0; i < outputs.size(); ++i) assembly.values[context_.plan.outputNames[i]] = outputs[i];
  sendOn(id, assembly.meta, assembly.values);
}

void ComputeLoop::evaluate(uint64_t id, Assembly& assembly, const std::vector<at::Tensor>& inputs) {
  const auto evaluateStarted = StageClock::now();
  const auto outputs = context_.stage.evaluate(inputs);
  clock_.addBusy(StageClock::kForward, StageClock::now() - evaluateStarted);
  for (size_t i = 0; i < outputs.size(); ++i) assembly.values[context_.plan.outputNames[i]] = outputs[i];
  if (!context_.plan.isLast()) {
    sendOn(id, assembly.meta, assembly.values);
    return;
  }
  std::vector<NamedTensor> modelOutput;
  for (const auto& name : context_.plan.modelOutputValues) modelOutput.push_back({name, assembly.values.at(name)});
  if (assembly.meta.kind == StreamKind::kPredict) {
    answerPrediction(id, std::move(modelOutput));
  } else {
    context_.hooks.leaf->evaluateBatch(modelOutput, {id, assembly.meta.epoch});
  }
}

void ComputeLoop::answerPrediction(uint64_t id, std::vector<NamedTensor> modelOutput) {
  if (context_.plan.stage == 0) {  // a one-node cluster: the root is the last stage
    context_.predictions.deliver(id, std::move(modelOutput));
    return;
  }
  Message answer;
  answer.kind = MessageKind::kActivation;
  answer.id = id;
  answer.tensors = std::move(modelOutput);
  attachMeta(answer, {StreamKind::kPrediction, epoch_, false});
  post(0, std::move(answer), codec_);
}

void ComputeLoop::sendOn(uint64_t id, const MicroBatchMeta& meta, const std::map<std::string, at::Tensor>& values) {
  for (const auto& [destination, names] : context_.plan.sendsTo) {
    Message part;
    part.kind = MessageKind::kActivation;
    part.id = id;
    for (const auto& name : names) part.tensors.push_back({name, values.at(name)});
    attachMeta(part, meta);
    post(destination, std::move(part), codec_);
  }
}

void ComputeLoop::onGradientPart(Message part) {
  auto found = awaiting_.find(part.id);
  RAVNEST_CHECK_AS(ProtocolError, found != awaiting_.end(), context_.config.name(), ": ", part.sender,
                   " sent gradients for micro-batch ", part.id, ", which is not waiting for any");
  auto& awaiting = found->second;
  for (auto& named : part.tensors) {
    auto& sum = awaiting.gradients[named.name];
    sum = sum.defined() ? sum + named.tensor : named.tensor;
  }
  if (++awaiting.received < awaiting.expected) return;
  AwaitingGradients complete = std::move(awaiting);
  awaiting_.erase(found);
  runBackward(part.id, std::move(complete));
}

void ComputeLoop::runBackward(uint64_t id, AwaitingGradients awaiting) {
  enterEpoch(awaiting.epoch);
  std::vector<at::Tensor> outputGrads;
  for (const auto& name : context_.plan.outputNames) outputGrads.push_back(valueOf(awaiting.gradients, name));
  const auto backwardStarted = StageClock::now();
  const auto inputGrads = context_.stage.backwardInputs(id, outputGrads);
  clock_.addBusy(StageClock::kBackward, StageClock::now() - backwardStarted);
  std::map<std::string, at::Tensor> gradients;
  for (size_t i = 0; i < inputGrads.size(); ++i) gradients[context_.plan.inputNames[i]] = inputGrads[i];
  sendGradients(id, gradients, awaiting.senderOf);
  afterInputGradients(id);
}

void ComputeLoop::afterInputGradients(uint64_t id) {
  if (!context_.stage.options().deferWeightGradients) {
    finishMicroBatch();
    return;
  }
  deferredWeight_.push_back(id);
  context_.scheduler.setDeferredWeight(deferredWeight_.size());
}

void ComputeLoop::runDeferredWeightPass() {
  const uint64_t id = deferredWeight_.front();
  deferredWeight_.pop_front();
  context_.scheduler.setDeferredWeight(deferredWeight_.size());
  const auto started = StageClock::now();
  context_.stage.backwardWeights(id);
  clock_.addBusy(StageClock::kWeight, StageClock::now() - started);
  finishMicroBatch();
}

void ComputeLoop::runAllDeferredWeightPasses() {
  while (!deferredWeight_.empty()) runDeferredWeightPass();
}

void ComputeLoop::finishMicroBatch() {
  finishBackward();
  if (context_.plan.stage == 0) context_.window.release();
}

void ComputeLoop::post(int stage, Message message, CodecKind codec) {
  auto& outbox = outboxes_[stage];
  if (!outbox) outbox = std::make_unique<Outbox>(context_.links, context_.copies, stage);
  outbox->post(std::move(message), codec);
}

void ComputeLoop::sendGradients(uint64_t id, const std::map<std::string, at::Tensor>& gradients,
                                const std::map<std::string, int>& senderOf) {
  std::map<int, Message> parts;
  for (const auto& [name, sender] : senderOf) {
    if (sender == context_.plan.stage || sender < 0) continue;
    Message& part = parts[sender];
    part.kind = MessageKind::kGradient;
    part.id = id;
    const at::Tensor gradient = valueOf(gradients, name);
    if (gradient.defined()) part.tensors.push_back({name, gradient});
  }
  for (auto& [sender, part] : parts) post(sender, std::move(part), codec_);
}

void ComputeLoop::finishBackward() {
  stepping_ = true;
  ++backwardPasses_;
  const auto& hooks = context_.hooks;
  if (hooks.optimizer && backwardPasses_ % context_.options.updateFrequency == 0) {
    const auto started = StageClock::now();
    context_.stage.beforeUpdate();
    hooks.optimizer->step();
    hooks.optimizer->zeroGrad();
    if (hooks.lrScheduler && !context_.options.lrStepOnEpochChange) hooks.lrScheduler->step();
    context_.metrics.add("optimizer_steps", 1);
    clock_.addBusy(StageClock::kOptimizer, StageClock::now() - started);
  }
  context_.averaging.afterBackward(context_.stage, hooks.optimizer.get(), backwardPasses_);
  stepping_ = false;
  context_.metrics.set("backward_passes", static_cast<double>(backwardPasses_));
  recordStash();
  checkpointIfMarked();
}

void ComputeLoop::checkpointIfMarked() {
  // Backward passes end in micro-batch order on every stage, so the mark of count N meets count N here.
  while (!checkpointsAt_.empty() && *checkpointsAt_.begin() < backwardPasses_) {
    logger(context_.config.name())->warn("the checkpoint marked at backward pass {} was passed: skipped",
                                         *checkpointsAt_.begin());
    checkpointsAt_.erase(checkpointsAt_.begin());
  }
  if (checkpointsAt_.empty() || *checkpointsAt_.begin() != backwardPasses_) return;
  checkpointsAt_.erase(checkpointsAt_.begin());
  if (!context_.hooks.checkpoint) return;
  const auto started = StageClock::now();
  context_.hooks.checkpoint->snapshot(epoch_, backwardPasses_);
  context_.metrics.add("checkpoints", 1);
  clock_.addBusy(StageClock::kOptimizer, StageClock::now() - started);
}

void ComputeLoop::recordForward(const std::vector<at::Tensor>& inputs) {
  const auto batched = std::find_if(inputs.begin(), inputs.end(),
                                    [](const at::Tensor& input) { return input.defined() && input.dim() > 0; });
  context_.metrics.add("forward_passes", 1);
  if (batched != inputs.end()) context_.metrics.add("samples", static_cast<double>(batched->size(0)));
}

void ComputeLoop::recordStash() {
  const WeightStash& stash = context_.stage.weightStash();
  context_.metrics.set("stashed_versions", static_cast<double>(stash.stashedVersions()));
  context_.metrics.set("stashed_bytes", static_cast<double>(stash.stashedBytes()));
}

void ComputeLoop::enterEpoch(int64_t epoch) {
  if (epoch_ >= epoch) return;
  stepping_ = true;
  while (epoch_ < epoch) {
    ++epoch_;
    context_.metrics.set("epoch", static_cast<double>(epoch_));
    context_.averaging.onEpochChange(context_.stage, context_.hooks.optimizer.get());
    if (context_.hooks.lrScheduler && context_.options.lrStepOnEpochChange) context_.hooks.lrScheduler->step();
  }
  stepping_ = false;
}

}  // namespace ravnest::detail
