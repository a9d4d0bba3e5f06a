#include "ravnest/pipeline/weight_stash.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "ravnest/common/error.h"

namespace ravnest {
namespace {

std::vector<at::Tensor> copyOf(const std::vector<at::Tensor>& parameters) {
  c10::NoGradGuard noGrad;
  std::vector<at::Tensor> copy;
  copy.reserve(parameters.size());
  for (const auto& parameter : parameters) copy.push_back(parameter.detach().clone());
  return copy;
}

}  // namespace

WeightStash::WeightStash(std::vector<at::Tensor> parameters) : parameters_(std::move(parameters)) {}

uint64_t WeightStash::acquireCurrent() {
  ++users_[current_];
  return current_;
}

void WeightStash::release(uint64_t version) {
  auto found = users_.find(version);
  RAVNEST_CHECK(found != users_.end(), "weight version ", version, " is not held by any micro-batch");
  if (--found->second > 0) return;
  users_.erase(found);
  copies_.erase(version);
}

void WeightStash::beforeUpdate() {
  if (users_.count(current_) > 0 && copies_.count(current_) == 0) copies_.emplace(current_, copyOf(parameters_));
  ++current_;
}

std::vector<at::Tensor> WeightStash::weights(uint64_t version) const {
  auto found = copies_.find(version);
  if (found != copies_.end()) return found->second;
  RAVNEST_CHECK(version == current_, "weight version ", version, " was not kept: acquire it before updating");
  return parameters_;
}

const std::vector<at::Tensor>& WeightStash::frozen(uint64_t version) {
  auto found = copies_.find(version);
  if (found != copies_.end()) return found->second;
  RAVNEST_CHECK(version == current_ && users_.count(version) > 0, "weight version ", version,
                " is not held: acquire it first");
  return copies_.emplace(version, copyOf(parameters_)).first->second;
}

int64_t WeightStash::stashedBytes() const {
  int64_t bytes = 0;
  for (const auto& [version, copy] : copies_) {
    for (const auto& tensor : copy) bytes += tensor.numel() * static_cast<int64_t>(tensor.element_size());
  }
  return bytes;
}

}  // namespace ravnest
