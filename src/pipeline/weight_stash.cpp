#include "ravnest/pipeline/weight_stash.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "ravnest/common/error.h"

namespace ravnest {

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
  if (users_.count(current_) > 0) {
    c10::NoGradGuard noGrad;
    std::vector<at::Tensor> copy;
    copy.reserve(parameters_.size());
    for (const auto& parameter : parameters_) copy.push_back(parameter.detach().clone());
    copies_.emplace(current_, std::move(copy));
  }
  ++current_;
}

void WeightStash::withVersion(uint64_t version, const std::function<void()>& body) {
  auto found = copies_.find(version);
  if (version == current_ || found == copies_.end()) {
    RAVNEST_CHECK(version == current_, "weight version ", version, " was not kept: acquire it before updating");
    body();
    return;
  }
  std::vector<at::Tensor> live;
  live.reserve(parameters_.size());
  for (size_t i = 0; i < parameters_.size(); ++i) {
    live.push_back(parameters_[i].variable_data());
    parameters_[i].set_data(found->second[i]);
  }
  auto restoreLive = [&] {
    for (size_t i = 0; i < parameters_.size(); ++i) parameters_[i].set_data(live[i]);
  };
  try {
    body();
  } catch (...) {
    restoreLive();
    throw;
  }
  restoreLive();
}

int64_t WeightStash::stashedBytes() const {
  int64_t bytes = 0;
  for (const auto& [version, copy] : copies_) {
    for (const auto& tensor : copy) bytes += tensor.numel() * static_cast<int64_t>(tensor.element_size());
  }
  return bytes;
}

}  // namespace ravnest
