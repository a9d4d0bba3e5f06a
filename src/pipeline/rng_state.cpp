#include "ravnest/pipeline/rng_state.h"

#include <mutex>

#include <ATen/Context.h>
#include <ATen/core/Generator.h>

namespace ravnest {
namespace {

at::Tensor stateOf(at::Generator generator) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void setStateOf(at::Generator generator, const at::Tensor& state) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

}  // namespace

RngState RngState::capture(const c10::Device& device) {
  RngState state;
  state.device_ = device;
  state.cpu_ = stateOf(at::globalContext().defaultGenerator(c10::Device(c10::kCPU)));
  if (device.is_cuda()) state.cuda_ = stateOf(at::globalContext().defaultGenerator(device));
  return state;
}

void RngState::restore() const {
  setStateOf(at::globalContext().defaultGenerator(c10::Device(c10::kCPU)), cpu_);
  if (cuda_.defined()) setStateOf(at::globalContext().defaultGenerator(device_), cuda_);
}

}  // namespace ravnest
