#include "node/stage_plan.h"

#include <algorithm>

namespace ravnest::detail {
namespace {

void addDestination(StagePlan& plan, int destination, const std::string& name) {
  if (destination == plan.stage) return;
  auto& names = plan.sendsTo[destination];
  if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
}

void addDestinations(StagePlan& plan, const std::vector<int>& consumers, bool modelOutput,
                     const std::string& name) {
  for (int consumer : consumers) addDestination(plan, consumer, name);
  if (modelOutput) addDestination(plan, plan.lastStage, name);
}

}  // namespace

std::set<int> StagePlan::peers() const {
  std::set<int> result = sourceStages;
  for (const auto& [destination, names] : sendsTo) result.insert(destination);
  if (!isLast()) result.insert(stage + 1);
  return result;
}

StagePlan StagePlan::from(const StageRouting& routing) {
  StagePlan plan;
  plan.stage = routing.stage;
  plan.lastStage = routing.numStages - 1;
  plan.modelOutputValues = routing.modelOutputValues;
  for (const auto& input : routing.inputs) {
    plan.inputNames.push_back(input.name);
    plan.inputRequiresGrad.push_back(input.requiresGrad);
    plan.requiredValues.insert(input.name);
    if (input.isModelInput() && plan.stage != 0) plan.sourceStages.insert(0);
    if (!input.isModelInput() && input.sourceStage != plan.stage) plan.sourceStages.insert(input.sourceStage);
  }
  for (const auto& output : routing.outputs) {
    plan.outputNames.push_back(output.name);
    addDestinations(plan, output.consumerStages, output.modelOutput, output.name);
  }
  if (plan.stage == 0) {
    for (const auto& input : routing.modelInputs) {
      addDestinations(plan, input.consumerStages, input.modelOutput, input.name);
    }
  }
  if (plan.isLast()) {
    for (const auto& name : plan.modelOutputValues) {
      if (std::find(plan.outputNames.begin(), plan.outputNames.end(), name) == plan.outputNames.end()) {
        plan.requiredValues.insert(name);
      }
    }
  }
  return plan;
}

}  // namespace ravnest::detail
