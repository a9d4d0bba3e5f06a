#include "node/message_admission.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "node/micro_batch_meta.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

// Ids remembered per sender and kind: far more than a pipeline ever has in
// flight.
constexpr size_t kRemembered = 4096;

bool carriesMicroBatch(StreamKind kind) { return kind != StreamKind::kEvalEnd && kind != StreamKind::kShutdown; }

std::string describe(const Message& message) {
  return messageKindName(message.kind) + " " + std::to_string(message.id) + " from '" + message.sender + "'";
}

}  // namespace

MessageAdmission::MessageAdmission(const NodeConfig& config, const StagePlan& plan, const PeerLinks& links)
    : config_(config), plan_(plan), links_(links) {
  for (const auto& member : config.clusterNodes) jobNodes_.insert(member.name());
  for (const auto& member : config.jobNodes) jobNodes_.insert(member.name());
  for (const auto& ring : config.rings) {
    if (ring.nextNodeId >= 0) jobNodes_.insert(nodeName(ring.nextNodeId));
    if (ring.previousNodeId >= 0) jobNodes_.insert(nodeName(ring.previousNodeId));
  }
  jobNodes_.erase(config.name());
}

void MessageAdmission::install(PeerServer& server) {
  server.setValidator(MessageKind::kActivation, [this](const Message& message) { checkActivation(message); });
  server.setValidator(MessageKind::kGradient, [this](const Message& message) { checkGradient(message); });
  server.setValidator(MessageKind::kControl, [this](const Message& message) { checkControl(message); });
}

void MessageAdmission::expectGradients(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  expectGradientsLocked(id);
}

void MessageAdmission::expectGradientsLocked(uint64_t id) {
  if (plan_.sendsTo.empty()) return;
  auto& stages = awaitedGradients_[id];
  for (const auto& [destination, names] : plan_.sendsTo) stages.insert(destination);
}

std::string MessageAdmission::namesOfStages(int from, int to) const {
  std::string names;
  for (int stage = from; stage < to; ++stage) names += (names.empty() ? "" : ", ") + config_.clusterNodes[stage].name();
  return names;
}

std::string MessageAdmission::namesOfDestinations() const {
  std::string names;
  for (const auto& [stage, values] : plan_.sendsTo)
    names += (names.empty() ? "" : ", ") + config_.clusterNodes[stage].name();
  return names.empty() ? "none" : names;
}

void MessageAdmission::checkActivation(const Message& message) {
  const int sender = links_.stageOf(message.sender);
  Message values = message;  // shares the tensors; takeMeta only drops the header from the list
  const MicroBatchMeta meta = takeMeta(values);
  if (plan_.stage == 0) {
    RAVNEST_CHECK_AS(PermissionError, sender == plan_.lastStage && sender != 0, config_.name(),
                     " (the root) takes activations only as prediction answers from its last stage ",
                     config_.clusterNodes[plan_.lastStage].name(), "; ", describe(message), " does not qualify");
    RAVNEST_CHECK_AS(ProtocolError, meta.kind == StreamKind::kPrediction, config_.name(), ": ", describe(message),
                     " is not a prediction answer");
  } else {
    RAVNEST_CHECK_AS(PermissionError, sender >= 0 && sender < plan_.stage, config_.name(),
                     " accepts activations only from its upstream ", namesOfStages(0, plan_.stage), "; ",
                     describe(message), " does not qualify");
    RAVNEST_CHECK_AS(ProtocolError, meta.kind != StreamKind::kPrediction, config_.name(), ": ", describe(message),
                     " is a prediction answer, which only the root takes");
  }
  const bool root = plan_.stage == 0;
  for (const auto& named : values.tensors) {
    const bool taken = carriesMicroBatch(meta.kind) &&
                       (root ? std::find(plan_.modelOutputValues.begin(), plan_.modelOutputValues.end(), named.name) !=
                                   plan_.modelOutputValues.end()
                             : plan_.requiredValues.count(named.name) > 0);
    RAVNEST_CHECK_AS(ProtocolError, taken, config_.name(), ": ", describe(message), " carries '", named.name,
                     "', which stage ", plan_.stage, " does not take");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  checkDtypesLocked(values);
  // Markers carry the id of no micro-batch.
  if (carriesMicroBatch(meta.kind)) rememberIdLocked(MessageKind::kActivation, message);
  learnDtypesLocked(values);
  if (meta.kind == StreamKind::kTrain) expectGradientsLocked(message.id);
}

void MessageAdmission::checkGradient(const Message& message) {
  const int sender = links_.stageOf(message.sender);
  const auto destination = plan_.sendsTo.find(sender);
  RAVNEST_CHECK_AS(PermissionError, sender > plan_.stage && destination != plan_.sendsTo.end(), config_.name(),
                   " accepts gradients only from the stages it sends to (", namesOfDestinations(), "); ",
                   describe(message), " does not qualify");
  for (const auto& named : message.tensors) {
    const auto& sent = destination->second;
    RAVNEST_CHECK_AS(ProtocolError, std::find(sent.begin(), sent.end(), named.name) != sent.end(), config_.name(), ": ",
                     describe(message), " carries a gradient of '", named.name, "', which ", config_.name(),
                     " never sent it");
    RAVNEST_CHECK_AS(ProtocolError, at::isFloatingType(named.tensor.scalar_type()), config_.name(), ": ",
                     describe(message), " carries a gradient of '", named.name, "' as ", named.tensor.scalar_type());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  auto awaited = awaitedGradients_.find(message.id);
  RAVNEST_CHECK_AS(ProtocolError, awaited != awaitedGradients_.end() && awaited->second.count(sender) > 0,
                   config_.name(), ": ", describe(message), " is not awaited: micro-batch ", message.id,
                   " was never sent there for training, or its gradient arrived already");
  checkDtypesLocked(message);
  learnDtypesLocked(message);
  awaited->second.erase(sender);
  if (awaited->second.empty()) awaitedGradients_.erase(awaited);
}

void MessageAdmission::checkControl(const Message& message) const {
  RAVNEST_CHECK_AS(PermissionError, jobNodes_.count(message.sender) > 0, config_.name(),
                   " accepts control messages only from the nodes of its job; ", describe(message),
                   " does not qualify");
}

void MessageAdmission::checkDtypesLocked(const Message& message) const {
  for (const auto& named : message.tensors) {
    const auto known = dtypes_.find({message.kind, named.name});
    RAVNEST_CHECK_AS(ProtocolError, known == dtypes_.end() || known->second == named.tensor.scalar_type(),
                     config_.name(), ": ", describe(message), " carries '", named.name, "' as ",
                     named.tensor.scalar_type(), " but stage ", plan_.stage, " takes it as ", known->second);
  }
}

void MessageAdmission::learnDtypesLocked(const Message& message) {
  for (const auto& named : message.tensors)
    dtypes_.emplace(std::make_pair(message.kind, named.name), named.tensor.scalar_type());
}

void MessageAdmission::rememberIdLocked(MessageKind kind, const Message& message) {
  SeenIds& seen = seen_[{kind, message.sender}];
  const bool fresh = !(seen.forgotten && message.id <= seen.newestForgotten) && seen.recent.insert(message.id).second;
  RAVNEST_CHECK_AS(ProtocolError, fresh, config_.name(), ": ", describe(message),
                   " repeats a micro-batch id that sender already used");
  if (seen.recent.size() > kRemembered) {
    seen.forgotten = true;
    seen.newestForgotten = *seen.recent.begin();
    seen.recent.erase(seen.recent.begin());
  }
}

}  // namespace ravnest::detail
