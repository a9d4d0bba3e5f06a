#include "ravnest/pipeline/stage.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/script.h>

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

/// Keeps the module's buffers (BatchNorm running statistics) as they are now and puts them back on
/// destruction, so that a recomputed forward pass does not update them a second time.
class BufferGuard {
 public:
  explicit BufferGuard(const torch::jit::Module& module) {
    for (const auto& buffer : module.buffers()) saved_.emplace_back(buffer, buffer.clone());
  }
  ~BufferGuard() {
    c10::NoGradGuard noGrad;
    for (auto& [live, copy] : saved_) live.copy_(copy);
  }

 private:
  std::vector<std::pair<at::Tensor, at::Tensor>> saved_;
};

}  // namespace

Stage::Stage(const std::string& path, std::vector<bool> inputRequiresGrad, c10::Device device)
    : module_(loadModule(path, device)),
      inputRequiresGrad_(std::move(inputRequiresGrad)),
      device_(device),
      stash_(parameters()) {}

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

std::vector<at::Tensor> Stage::forwardStashed(uint64_t id, std::vector<at::Tensor> inputs) {
  RAVNEST_CHECK(pending_.count(id) == 0, "micro-batch ", id, " is already waiting for its backward pass");
  Pending pending{toDevice(std::move(inputs)), stash_.acquireCurrent(), RngState::capture(device_)};
  std::vector<at::Tensor> outputs;
  {
    c10::NoGradGuard noGrad;
    module_->train(true);
    outputs = run(pending.inputs);
  }
  pending_.emplace(id, std::move(pending));
  return outputs;
}

std::vector<at::Tensor> Stage::backward(uint64_t id, const std::vector<at::Tensor>& outputGrads) {
  auto found = pending_.find(id);
  RAVNEST_CHECK(found != pending_.end(), "micro-batch ", id, " has no pending backward pass on this stage");
  Pending pending = std::move(found->second);
  pending_.erase(found);
  std::vector<at::Tensor> inputGrads(pending.inputs.size());
  stash_.withVersion(pending.version, [&] {
    // The buffers go back only after the backward pass: autograd saved them and checks their versions.
    BufferGuard keepBuffers(*module_);
    const RngState now = RngState::capture(device_);
    pending.rng.restore();
    Pass pass = forwardWithGrad(pending.inputs);
    now.restore();
    std::vector<at::Tensor> roots, grads;
    for (size_t i = 0; i < pass.outputs.size() && i < outputGrads.size(); ++i) {
      if (!outputGrads[i].defined() || !pass.outputs[i].requires_grad()) continue;
      roots.push_back(pass.outputs[i]);
      grads.push_back(outputGrads[i].to(pass.outputs[i].device(), pass.outputs[i].scalar_type()));
    }
    if (!roots.empty()) torch::autograd::backward(roots, grads);
    for (size_t i = 0; i < pass.inputs.size(); ++i) inputGrads[i] = pass.inputs[i].grad();
  });
  stash_.release(pending.version);
  return inputGrads;
}

Stage::Pass Stage::forwardWithGrad(const std::vector<at::Tensor>& inputs) {
  Pass pass;
  for (size_t i = 0; i < inputs.size(); ++i) {
    at::Tensor input = inputs[i].to(device_).detach();
    const bool wantsGrad = i < inputRequiresGrad_.size() && inputRequiresGrad_[i] && input.is_floating_point();
    pass.inputs.push_back(wantsGrad ? input.requires_grad_() : input);
  }
  c10::AutoGradMode enableGrad(true);
  module_->train(true);
  pass.outputs = run(pass.inputs);
  return pass;
}

std::vector<at::Tensor> Stage::evaluate(const std::vector<at::Tensor>& inputs) {
  c10::NoGradGuard noGrad;
  module_->train(false);
  auto outputs = run(toDevice(inputs));
  module_->train(true);
  return outputs;
}

std::vector<at::Tensor> Stage::parameters() const {
  std::vector<at::Tensor> result;
  for (const auto& parameter : module_->parameters()) result.push_back(parameter);
  return result;
}

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
