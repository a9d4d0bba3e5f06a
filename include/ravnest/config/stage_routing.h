#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ravnest {

/// A stage argument: produced by `sourceStage` or, when that is -1, a model input.
struct StageInput {
  std::string name;
  int sourceStage = -1;
  bool requiresGrad = false;
  /// The example input's dtype as torch names it ("float32", "int64") and its shape, as clusterize traced
  /// them (the batch dimension follows the real batch); empty when the routing does not say.
  std::string dtype;
  std::optional<std::vector<int64_t>> exampleShape;

  bool isModelInput() const { return sourceStage < 0; }
};

/// A value the stage returns, in the order of its returned tuple.
struct StageOutput {
  std::string name;
  std::vector<int> consumerStages;  // distinct, ascending
  bool modelOutput = false;
  bool requiresGrad = false;
};

/// An input of the whole model's forward(), which the root feeds.
struct ModelInput {
  std::string name;     // graph name
  std::string keyword;  // parameter name
  int position = 0;
  std::vector<int> consumerStages;  // distinct, ascending
  bool modelOutput = false;
};

/// One stage's routing.json (see docs/node_data.md).
struct StageRouting {
  int stage = 0;
  int numStages = 1;
  std::vector<ModelInput> modelInputs;
  std::vector<StageInput> inputs;
  std::vector<StageOutput> outputs;
  /// The value names the model output is built from, in the order a depth-first walk of `model_output`
  /// meets them (duplicates removed).
  std::vector<std::string> modelOutputValues;
  /// `model_output` as JSON text, for the Python side to rebuild the structure.
  std::string modelOutputJson;

  bool isLastStage() const { return stage == numStages - 1; }
};

/// Reads and validates a routing.json file. Throws ConfigError naming the file and the key on a missing
/// file, bad JSON, an unknown format version or a missing key.
StageRouting loadStageRouting(const std::string& path);

}  // namespace ravnest
