#include "ravnest/pipeline/stage.h"

#include <optional>

#include <torch/csrc/autograd/autograd.h>
#include <torch/script.h>

#include "pipeline/module_slots.h"
#include "pipeline/split_backward.h"
#include "ravnest/common/error.h"

namespace ravnest {
namespace {

std::unique_ptr<torch::jit::Module> loadModule(const std::string& path, const c10::Device& device) {
  try {
    auto module = std::make_unique<torch::jit::Module>(torch::jit::load(path, device));
    module->train(true);
    return module;
  } catch (const c10::Error& e) {
    throw ConfigError("cannot load the TorchScript stage '" + path + "': " + e.what_without_backtrace());
  }
}

std::vector<at::Tensor> tensorsOf(const c10::IValue& result) {
  std::vector<at::Tensor> outputs;
  if (result.isTuple()) {
    for (const auto& element : result.toTupleRef().elements()) outputs.push_back(element.toTensor());
  } else {
    outputs.push_back(result.toTensor());
  }
  return outputs;
}

}  // namespace

struct Stage::Pending {
  std::vector<at::Tensor> inputs;  // as received, for the recomputation
  uint64_t version = 0;
  RngState rng;
  std::optional<Graph> graph;                       // the forward pass with autograd, once there is one
  std::optional<detail::SplitBackward> weightPass;  // between B and W
};

Stage::Stage(const std::string& path, std::vector<bool> inputRequiresGrad, c10::Device device,
             StageOptions options)
    : module_(loadModule(path, device)),
      slots_(std::make_unique<detail::ModuleSlots>(*module_)),
      inputRequiresGrad_(std::move(inputRequiresGrad)),
      device_(device),
      options_(options),
      stash_(slots_->parameters()) {}

Stage::~Stage() = default;

std::vector<at::Tensor> Stage::run(const std::vector<at::Tensor>& inputs) {
  RAVNEST_CHECK(inputs.size() == inputRequiresGrad_.size(), "the stage takes ", inputRequiresGrad_.size(),
                " arguments, got ", inputs.size());
  std::vector<c10::IValue> arguments(inputs.begin(), inputs.end());
  return tensorsOf(module_->forward(std::move(arguments)));
}

std::vector<at::Tensor> Stage::toDevice(std::vector<at::Tensor> inputs) const {
  for (auto& input : inputs) input = input.to(device_);
  return inputs;
}

Stage::Pending& Stage::startPending(uint64_t id, std::vector<at::Tensor> inputs) {
  RAVNEST_CHECK(pending_.count(id) == 0, "micro-batch ", id, " is already waiting for its backward pass");
  auto pending = std::make_unique<Pending>();
  pending->inputs = toDevice(std::move(inputs));
  pending->version = stash_.acquireCurrent();
  pending->rng = RngState::capture(device_);
  return *pending_.emplace(id, std::move(pending)).first->second;
}

Stage::Pending& Stage::pendingOf(uint64_t id) {
  auto found = pending_.find(id);
  RAVNEST_CHECK(found != pending_.end(), "micro-batch ", id, " has no pending backward pass on this stage");
  RAVNEST_CHECK(!found->second->weightPass, "micro-batch ", id, " has run its input-gradient pass already");
  return *found->second;
}

std::vector<at::Tensor> Stage::forwardStashed(uint64_t id, std::vector<at::Tensor> inputs) {
  Pending& pending = startPending(id, std::move(inputs));
  if (!options_.recompute) {
    pending.graph = forwardWithGraph(pending.inputs, pending.version, /*frozen=*/true, /*keepStatistics=*/true);
    std::vector<at::Tensor> outputs;
    for (const auto& output : pending.graph->pass.outputs) outputs.push_back(output.detach());
    return outputs;
  }
  c10::NoGradGuard noGrad;
  module_->train(true);
  return run(pending.inputs);
}

Stage::Pass Stage::forwardForLoss(uint64_t id, std::vector<at::Tensor> inputs) {
  Pending& pending = startPending(id, std::move(inputs));
  pending.graph = forwardWithGraph(pending.inputs, pending.version, options_.deferWeightGradients,
                                   /*keepStatistics=*/true);
  return pending.graph->pass;
}

Stage::Graph Stage::forwardWithGraph(const std::vector<at::Tensor>& inputs, uint64_t version, bool frozen,
                                     bool keepStatistics) {
  const std::vector<at::Tensor> weights = frozen ? stash_.frozen(version) : stash_.weights(version);
  const auto& live = slots_->parameters();
  Graph graph;
  std::vector<at::Tensor> statistics;
  {
    c10::NoGradGuard noGrad;
    for (size_t i = 0; i < weights.size(); ++i) {
      graph.weights.push_back(weights[i].detach().requires_grad_(live[i].requires_grad()));
    }
    for (const auto& buffer : slots_->buffers()) statistics.push_back(buffer.clone());
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    at::Tensor input = inputs[i].detach();
    const bool wantsGrad = i < inputRequiresGrad_.size() && inputRequiresGrad_[i] && input.is_floating_point();
    graph.pass.inputs.push_back(wantsGrad ? input.requires_grad_() : input);
  }
  slots_->withSubstitutes(graph.weights, statistics, [&] {
    c10::AutoGradMode enableGrad(true);
    module_->train(true);
    graph.pass.outputs = run(graph.pass.inputs);
  });
  if (keepStatistics) {
    c10::NoGradGuard noGrad;
    for (size_t i = 0; i < statistics.size(); ++i) slots_->buffers()[i].copy_(statistics[i]);
  }
  return graph;
}

std::vector<at::Tensor> Stage::backwardInputs(uint64_t id, const std::vector<at::Tensor>& outputGrads) {
  Pending& pending = pendingOf(id);
  if (!pending.graph) {
    const RngState now = RngState::capture(device_);
    pending.rng.restore();
    pending.graph = forwardWithGraph(pending.inputs, pending.version, options_.deferWeightGradients,
                                     /*keepStatistics=*/false);
    now.restore();
  }
  const Pass& pass = pending.graph->pass;
  std::vector<at::Tensor> roots, grads;
  for (size_t i = 0; i < pass.outputs.size() && i < outputGrads.size(); ++i) {
    roots.push_back(pass.outputs[i]);
    grads.push_back(outputGrads[i]);
  }
  return backwardFrom(id, pending, roots, grads, pass.inputs);
}

std::vector<at::Tensor> Stage::backwardInputsFromLoss(uint64_t id, const at::Tensor& loss,
                                                      const std::vector<at::Tensor>& extraLeaves) {
  Pending& pending = pendingOf(id);
  RAVNEST_CHECK(pending.graph, "micro-batch ", id, " did not run forwardForLoss()");
  std::vector<at::Tensor> inputs = pending.graph->pass.inputs;
  inputs.insert(inputs.end(), extraLeaves.begin(), extraLeaves.end());
  return backwardFrom(id, pending, {loss}, {at::ones_like(loss)}, inputs);
}

std::vector<at::Tensor> Stage::backwardFrom(uint64_t id, Pending& pending, const std::vector<at::Tensor>& roots,
                                            const std::vector<at::Tensor>& rootGrads,
                                            const std::vector<at::Tensor>& inputs) {
  if (options_.deferWeightGradients) {
    auto [inputGrads, weightPass] = detail::SplitBackward::computeInputGradients(roots, rootGrads, inputs);
    pending.weightPass = std::move(weightPass);
    return inputGrads;
  }
  // One pass for both: the inputs' gradients are read from their leaves.
  std::vector<at::Tensor> usedRoots, usedGrads;
  for (size_t i = 0; i < roots.size(); ++i) {
    if (!rootGrads[i].defined() || !roots[i].requires_grad()) continue;
    usedRoots.push_back(roots[i]);
    usedGrads.push_back(rootGrads[i].to(roots[i].device(), roots[i].scalar_type()));
  }
  if (!usedRoots.empty()) torch::autograd::backward(usedRoots, usedGrads);
  std::vector<at::Tensor> inputGrads;
  for (const auto& input : inputs) inputGrads.push_back(input.grad());
  finish(id);
  return inputGrads;
}

void Stage::backwardWeights(uint64_t id) {
  auto found = pending_.find(id);
  RAVNEST_CHECK(found != pending_.end() && found->second->weightPass, "micro-batch ", id,
                " has no weight-gradient pass waiting on this stage");
  found->second->weightPass->computeWeightGradients();
  finish(id);
}

void Stage::finish(uint64_t id) {
  auto found = pending_.find(id);
  const Pending& pending = *found->second;
  const auto& live = slots_->parameters();
  c10::NoGradGuard noGrad;
  for (size_t i = 0; i < live.size(); ++i) {
    const at::Tensor& grad = pending.graph->weights[i].grad();
    if (!grad.defined()) continue;
    at::Tensor& target = live[i].mutable_grad();
    if (target.defined()) {
      target.add_(grad);
    } else {
      target = grad;
    }
  }
  stash_.release(pending.version);
  pending_.erase(found);
}

void Stage::warmUp(const std::vector<at::Tensor>& inputs) {
  const RngState before = RngState::capture(device_);
  try {
    const std::vector<at::Tensor> onDevice = toDevice(inputs);
    if (options_.recompute) {
      c10::NoGradGuard noGrad;
      std::vector<at::Tensor> statistics;
      for (const auto& buffer : slots_->buffers()) statistics.push_back(buffer.clone());
      slots_->withSubstitutes(slots_->parameters(), statistics, [&] {
        module_->train(true);
        run(onDevice);
      });
    }
    // Live weights behind leaves of their own: the gradients land on those leaves, not on the parameters.
    Graph graph = forwardWithGraph(onDevice, stash_.currentVersion(), /*frozen=*/false, /*keepStatistics=*/false);
    std::vector<at::Tensor> roots, rootGrads;
    for (const auto& output : graph.pass.outputs) {
      if (!output.requires_grad()) continue;
      roots.push_back(output);
      rootGrads.push_back(at::ones_like(output));
    }
    if (!roots.empty() && options_.deferWeightGradients) {
      detail::SplitBackward::computeInputGradients(roots, rootGrads, graph.pass.inputs).second.computeWeightGradients();
    } else if (!roots.empty()) {
      torch::autograd::backward(roots, rootGrads);
    }
  } catch (...) {
    before.restore();
    throw;
  }
  before.restore();
}

std::vector<at::Tensor> Stage::evaluate(const std::vector<at::Tensor>& inputs) {
  c10::NoGradGuard noGrad;
  module_->train(false);
  auto outputs = run(toDevice(inputs));
  module_->train(true);
  return outputs;
}

std::vector<at::Tensor> Stage::parameters() const { return slots_->parameters(); }

std::vector<std::pair<std::string, at::Tensor>> Stage::namedParameters() const {
  std::vector<std::pair<std::string, at::Tensor>> result;
  for (const auto& named : module_->named_parameters()) result.emplace_back(named.name, named.value);
  return result;
}

std::vector<std::pair<std::string, at::Tensor>> Stage::namedBuffers() const {
  std::vector<std::pair<std::string, at::Tensor>> result;
  for (const auto& named : module_->named_buffers()) result.emplace_back(named.name, named.value);
  return result;
}

}  // namespace ravnest
