#include "ravnest/config/stage_routing.h"

#include <algorithm>
#include <set>
#include <utility>

#include "config/json_file.h"
#include "ravnest/common/error.h"

namespace ravnest {
namespace {

using detail::requireKey;
constexpr int kRoutingFormatVersion = 1;

std::vector<int> consumerStages(const nlohmann::json& entry, const std::string& path) {
  std::set<int> stages;
  for (const auto& consumer : requireKey<nlohmann::json>(entry, "consumers", path)) {
    stages.insert(requireKey<int>(consumer, "stage", path));
  }
  return {stages.begin(), stages.end()};
}

/// Depth-first walk of a `model_output` structure, collecting the value names once each.
void collectValues(const nlohmann::json& structure, std::vector<std::string>& names) {
  for (const auto& [kind, content] : structure.items()) {
    if (kind == "value") {
      const auto name = content.get<std::string>();
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    } else if (kind == "tuple" || kind == "list") {
      for (const auto& item : content) collectValues(item, names);
    } else if (kind == "dict") {
      for (const auto& [key, item] : content.items()) collectValues(item, names);
    }
  }
}

}  // namespace

StageRouting loadStageRouting(const std::string& path) try {
  const nlohmann::json document = detail::readJsonFile(path);
  const int version = requireKey<int>(document, "format_version", path);
  RAVNEST_CHECK_AS(ConfigError, version == kRoutingFormatVersion, "'", path, "' has routing format ", version,
                   " but this ravnest reads format ", kRoutingFormatVersion, ": rerun clusterize");
  StageRouting routing;
  routing.stage = requireKey<int>(document, "stage", path);
  routing.numStages = requireKey<int>(document, "num_stages", path);
  for (const auto& entry : requireKey<nlohmann::json>(document, "model_inputs", path)) {
    routing.modelInputs.push_back({requireKey<std::string>(entry, "name", path),
                                   requireKey<std::string>(entry, "keyword", path),
                                   requireKey<int>(entry, "position", path), consumerStages(entry, path),
                                   requireKey<bool>(entry, "model_output", path)});
  }
  for (const auto& entry : requireKey<nlohmann::json>(document, "inputs", path)) {
    const auto source = requireKey<nlohmann::json>(entry, "source", path);
    const int sourceStage = source.contains("stage") ? source.at("stage").get<int>() : -1;
    StageInput input;
    input.name = requireKey<std::string>(entry, "name", path);
    input.sourceStage = sourceStage;
    input.requiresGrad = requireKey<bool>(entry, "requires_grad", path);
    if (entry.contains("dtype") && entry.at("dtype").is_string()) input.dtype = entry.at("dtype").get<std::string>();
    if (entry.contains("shape") && entry.at("shape").is_array()) {
      input.exampleShape = entry.at("shape").get<std::vector<int64_t>>();
    }
    routing.inputs.push_back(std::move(input));
  }
  for (const auto& entry : requireKey<nlohmann::json>(document, "outputs", path)) {
    routing.outputs.push_back({requireKey<std::string>(entry, "name", path), consumerStages(entry, path),
                               requireKey<bool>(entry, "model_output", path),
                               requireKey<bool>(entry, "requires_grad", path)});
  }
  const auto modelOutput = requireKey<nlohmann::json>(document, "model_output", path);
  collectValues(modelOutput, routing.modelOutputValues);
  routing.modelOutputJson = modelOutput.dump();
  return routing;
} catch (const nlohmann::json::exception& e) {
  // A value of the wrong type deep inside the file: name the file, as every other config error does.
  throw ConfigError("'" + path + "' is malformed (" + e.what() + "): regenerate it with clusterize");
}

}  // namespace ravnest
