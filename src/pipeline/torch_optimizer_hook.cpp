#include "ravnest/pipeline/torch_optimizer_hook.h"

#include <torch/optim/optimizer.h>

#include "ravnest/common/error.h"

namespace ravnest {

TorchOptimizerHook::TorchOptimizerHook(std::shared_ptr<torch::optim::Optimizer> optimizer)
    : optimizer_(std::move(optimizer)) {
  RAVNEST_CHECK(optimizer_ != nullptr, "TorchOptimizerHook needs an optimizer");
}

void TorchOptimizerHook::step() { optimizer_->step(); }

void TorchOptimizerHook::zeroGrad() { optimizer_->zero_grad(); }

}  // namespace ravnest
