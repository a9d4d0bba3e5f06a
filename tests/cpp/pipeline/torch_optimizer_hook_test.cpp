#include "ravnest/pipeline/torch_optimizer_hook.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace ravnest {
namespace {

TEST(TorchOptimizerHookTest, StepsAndClearsGradientsThroughTheHookInterface) {
  at::Tensor weight = torch::ones({3}, torch::requires_grad());
  std::unique_ptr<OptimizerHook> hook = std::make_unique<TorchOptimizerHook>(
      std::make_shared<torch::optim::SGD>(std::vector<at::Tensor>{weight}, torch::optim::SGDOptions(0.5)));
  (weight * 2).sum().backward();
  hook->step();
  EXPECT_TRUE(torch::allclose(weight.detach(), torch::zeros({3})));
  hook->zeroGrad();
  EXPECT_FALSE(weight.grad().defined() && weight.grad().abs().sum().item<float>() != 0.0f);
}

}  // namespace
}  // namespace ravnest
