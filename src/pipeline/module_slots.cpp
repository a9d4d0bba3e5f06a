#include "pipeline/module_slots.h"

#include <map>

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

/// The index of `tensor` in `distinct`, added when it is new; identity is the tensor object, not its value.
size_t indexOf(const at::Tensor& tensor, std::vector<at::Tensor>& distinct,
               std::map<const c10::TensorImpl*, size_t>& seen) {
  auto [found, added] = seen.emplace(tensor.unsafeGetTensorImpl(), distinct.size());
  if (added) distinct.push_back(tensor);
  return found->second;
}

}  // namespace

ModuleSlots::ModuleSlots(const torch::jit::Module& module) {
  std::map<const c10::TensorImpl*, size_t> seenParameters, seenBuffers;
  for (const auto& owner : module.modules()) {
    for (const auto& named : owner.named_parameters(/*recurse=*/false)) {
      slots_.push_back({owner, named.name, true, indexOf(named.value, parameters_, seenParameters)});
    }
    for (const auto& named : owner.named_buffers(/*recurse=*/false)) {
      slots_.push_back({owner, named.name, false, indexOf(named.value, buffers_, seenBuffers)});
    }
  }
}

void ModuleSlots::set(const std::vector<at::Tensor>& parameters, const std::vector<at::Tensor>& buffers) {
  for (auto& slot : slots_) slot.owner.setattr(slot.name, (slot.isParameter ? parameters : buffers)[slot.index]);
}

void ModuleSlots::withSubstitutes(const std::vector<at::Tensor>& parameters, const std::vector<at::Tensor>& buffers,
                                  const std::function<void()>& body) {
  RAVNEST_CHECK(parameters.size() == parameters_.size() && buffers.size() == buffers_.size(), "the module has ",
                parameters_.size(), " parameters and ", buffers_.size(), " buffers, got substitutes for ",
                parameters.size(), " and ", buffers.size());
  set(parameters, buffers);
  try {
    body();
  } catch (...) {
    set(parameters_, buffers_);
    throw;
  }
  set(parameters_, buffers_);
}

}  // namespace ravnest::detail
