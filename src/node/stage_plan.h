#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ravnest/config/stage_routing.h"

namespace ravnest::detail {

/// What one stage sends where and waits for, derived from its routing (docs/node_data.md):
/// - each output goes to every consumer stage, and to the last stage when it is part of the model output;
/// - the root also sends each model input to the stages that read it (and to the last stage when the model
///   returns it);
/// - a micro-batch runs once every value in `requiredValues` arrived: the stage's arguments, plus on the
///   last stage the model-output values other stages produce.
/// Gradients go back along the same edges: a stage sends one gradient message per micro-batch to every stage
/// it received a part from, and waits for one from every stage it sent a part to.
struct StagePlan {
  int stage = 0;
  int lastStage = 0;
  std::vector<std::string> inputNames;  // the stage's arguments, in call order
  std::vector<bool> inputRequiresGrad;
  std::vector<std::string> outputNames;  // the stage's returned tuple, in order
  std::map<int, std::vector<std::string>> sendsTo;  // destination stage -> value names
  std::set<std::string> requiredValues;
  std::vector<std::string> modelOutputValues;
  std::set<int> sourceStages;  // stages this one receives from, as far as its routing tells

  bool isLast() const { return stage == lastStage; }
  /// Every stage this one exchanges messages with.
  std::set<int> peers() const;

  static StagePlan from(const StageRouting& routing);
};

}  // namespace ravnest::detail
