#pragma once

#include <memory>

#include "ravnest/pipeline/hooks.h"

namespace torch::optim {
class Optimizer;
}

namespace ravnest {

/// The optimizer hook for C++ applications: any torch::optim optimizer built on the stage's parameters
/// (Node::stage().parameters()). Called from the node's compute thread only.
class TorchOptimizerHook final : public OptimizerHook {
 public:
  explicit TorchOptimizerHook(std::shared_ptr<torch::optim::Optimizer> optimizer);

  void step() override;
  void zeroGrad() override;

 private:
  std::shared_ptr<torch::optim::Optimizer> optimizer_;
};

}  // namespace ravnest
