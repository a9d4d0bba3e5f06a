#include "node/stage_warm_up.h"

#include <array>
#include <chrono>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

/// The dtype names clusterize writes (torch's, without "torch.").
constexpr std::array<std::pair<const char*, at::ScalarType>, 10> kDTypeNames{{
    {"float32", at::kFloat},
    {"float64", at::kDouble},
    {"float16", at::kHalf},
    {"bfloat16", at::kBFloat16},
    {"int64", at::kLong},
    {"int32", at::kInt},
    {"int16", at::kShort},
    {"int8", at::kChar},
    {"uint8", at::kByte},
    {"bool", at::kBool},
}};

std::optional<at::ScalarType> scalarTypeNamed(const std::string& name) {
  for (const auto& [known, type] : kDTypeNames) {
    if (name == known) return type;
  }
  return std::nullopt;
}

/// Zeros shaped like each example input, or nullopt when the routing leaves one's dtype or shape out.
std::optional<std::vector<at::Tensor>> exampleInputs(const StageRouting& routing) {
  std::vector<at::Tensor> inputs;
  for (const StageInput& input : routing.inputs) {
    const auto type = scalarTypeNamed(input.dtype);
    if (!type || !input.exampleShape) return std::nullopt;
    inputs.push_back(at::zeros(*input.exampleShape, at::TensorOptions().dtype(*type)));
  }
  return inputs;
}

}  // namespace

void warmUpStage(Stage& stage, const StageRouting& routing, const std::string& node) {
  const auto log = logger(node);
  const auto inputs = exampleInputs(routing);
  if (!inputs) {
    log->debug("no warm-up pass: the routing does not give every input's dtype and shape");
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  try {
    stage.warmUp(*inputs);
  } catch (const std::exception& error) {
    log->debug("the warm-up pass failed, which training does not need: {}", error.what());
    return;
  }
  const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - started;
  log->debug("warm-up pass: {:.1f} ms", took.count());
}

}  // namespace ravnest::detail
