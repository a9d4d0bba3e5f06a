// The stage's backward passes against plain autograd on the same weights: recomputed or kept graphs, with the
// weight gradients computed at once (1F1B) or deferred past optimizer updates (ZB), on a module that uses one
// weight twice (tied) and has BatchNorm statistics.
#include "ravnest/pipeline/stage.h"

#include <filesystem>
#include <map>

#include <unistd.h>

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "ravnest/common/error.h"

namespace ravnest {
namespace {

constexpr int64_t kWidth = 6;

struct Weights {
  at::Tensor w, b, gamma, beta;
};

/// x @ w + b, BatchNorm (batch statistics, running ones updated), tanh, then @ w.t(): `w` is used twice.
const char* const kForward = R"(
def forward(self, x):
    h = torch.matmul(x, self.w) + self.b
    h = torch.batch_norm(h, self.gamma, self.beta, self.mean, self.var, True, 0.1, 1e-5, False)
    return torch.matmul(torch.tanh(h), self.w.t())
)";

at::Tensor referenceForward(const Weights& weights, const at::Tensor& x, at::Tensor mean, at::Tensor var) {
  auto h = torch::matmul(x, weights.w) + weights.b;
  h = torch::batch_norm(h, weights.gamma, weights.beta, mean, var, true, 0.1, 1e-5, false);
  return torch::matmul(torch::tanh(h), weights.w.t());
}

class StageTest : public ::testing::TestWithParam<StageOptions> {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    torch::jit::Module module("TiedNet");
    const auto parameter = [](at::Tensor value) { return value.requires_grad_(); };
    module.register_parameter("w", parameter(torch::randn({kWidth, kWidth}) * 0.4), false);
    module.register_parameter("b", parameter(torch::randn({kWidth}) * 0.1), false);
    module.register_parameter("gamma", parameter(1 + torch::randn({kWidth}) * 0.1), false);
    module.register_parameter("beta", parameter(torch::randn({kWidth}) * 0.1), false);
    module.register_buffer("mean", torch::zeros({kWidth}));
    module.register_buffer("var", torch::ones({kWidth}));
    module.define(kForward);
    path_ = (std::filesystem::temp_directory_path() /
            ("ravnest_stage_test_" + std::to_string(::getpid()) + ".pt")).string();
    module.save(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::unique_ptr<Stage> makeStage(bool inputGetsGradient = true) {
    return std::make_unique<Stage>(path_, std::vector<bool>{inputGetsGradient}, c10::Device(c10::kCPU), GetParam());
  }

  static std::map<std::string, at::Tensor> named(const Stage& stage) {
    std::map<std::string, at::Tensor> result;
    for (const auto& [name, tensor] : stage.namedParameters()) result[name] = tensor;
    for (const auto& [name, tensor] : stage.namedBuffers()) result[name] = tensor;
    return result;
  }

  /// The live weights now, as leaves of their own.
  static Weights snapshot(const Stage& stage) {
    auto live = named(stage);
    auto leaf = [&](const char* name) { return live.at(name).detach().clone().requires_grad_(); };
    return {leaf("w"), leaf("b"), leaf("gamma"), leaf("beta")};
  }

  /// An optimizer step: changes every weight in place.
  static void update(Stage& stage) {
    stage.beforeUpdate();
    torch::NoGradGuard noGrad;
    for (auto& parameter : stage.parameters()) parameter.add_(0.25);
  }

  static void zeroGrads(Stage& stage) {
    for (auto& parameter : stage.parameters()) parameter.mutable_grad() = at::Tensor();
  }

  static void expectWeightGrads(const Stage& stage, const Weights& expected) {
    auto live = named(stage);
    for (const auto& [name, reference] : std::map<std::string, at::Tensor>{
             {"w", expected.w}, {"b", expected.b}, {"gamma", expected.gamma}, {"beta", expected.beta}}) {
      ASSERT_TRUE(live.at(name).grad().defined()) << name;
      EXPECT_TRUE(torch::allclose(live.at(name).grad(), reference.grad(), 1e-5, 1e-6)) << name;
    }
  }

  std::string path_;
};

TEST_P(StageTest, BackwardUsesTheForwardsWeightsAcrossUpdatesAndCountsTiedWeightsOnce) {
  auto stage = makeStage();
  const bool deferred = GetParam().deferWeightGradients;
  const auto x1 = torch::randn({5, kWidth}), x2 = torch::randn({5, kWidth});
  const auto g1 = torch::randn({5, kWidth}), g2 = torch::randn({5, kWidth});
  at::Tensor mean = torch::zeros({kWidth}), var = torch::ones({kWidth});

  const Weights before = snapshot(*stage);
  const auto out1 = stage->forwardStashed(1, {x1});
  auto expected1 = referenceForward(before, x1, mean.clone(), var.clone());
  EXPECT_TRUE(torch::allclose(out1[0], expected1, 1e-5, 1e-6));
  update(*stage);
  const Weights after = snapshot(*stage);
  stage->forwardStashed(2, {x2});

  const auto x1Leaf = x1.clone().requires_grad_();
  auto reference1 = referenceForward(before, x1Leaf, mean.clone(), var.clone());
  reference1.backward(g1);
  const auto inputGrads1 = stage->backwardInputs(1, {g1});
  ASSERT_TRUE(inputGrads1[0].defined());
  EXPECT_TRUE(torch::allclose(inputGrads1[0], x1Leaf.grad(), 1e-5, 1e-6));
  if (deferred) {
    EXPECT_FALSE(named(*stage).at("w").grad().defined()) << "B computed weight gradients";
    update(*stage);  // an update between B and W must not change what W computes
    stage->backwardWeights(1);
  }
  expectWeightGrads(*stage, before);
  zeroGrads(*stage);

  const auto x2Leaf = x2.clone().requires_grad_();
  referenceForward(after, x2Leaf, mean.clone(), var.clone()).backward(g2);
  const auto inputGrads2 = stage->backwardInputs(2, {g2});
  if (deferred) stage->backwardWeights(2);
  EXPECT_TRUE(torch::allclose(inputGrads2[0], x2Leaf.grad(), 1e-5, 1e-6));
  expectWeightGrads(*stage, after);

  // Each forward pass updated the running statistics once; the backward passes did not.
  torch::NoGradGuard noGrad;
  referenceForward(before, x1, mean, var);
  referenceForward(after, x2, mean, var);
  EXPECT_TRUE(torch::allclose(named(*stage).at("mean"), mean, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(named(*stage).at("var"), var, 1e-5, 1e-6));
  EXPECT_EQ(stage->pendingBackwards(), 0u);
  EXPECT_EQ(stage->weightStash().stashedVersions(), 0u);
}

TEST_P(StageTest, LastStageLossReachesItsInputsExtraValuesAndWeights) {
  auto stage = makeStage();
  const auto x = torch::randn({4, kWidth});
  const auto extra = torch::randn({4, kWidth}).requires_grad_();
  const Weights weights = snapshot(*stage);
  auto pass = stage->forwardForLoss(7, {x});
  const auto loss = (pass.outputs[0] * extra).sum();
  const auto grads = stage->backwardInputsFromLoss(7, loss, {extra});
  if (GetParam().deferWeightGradients) stage->backwardWeights(7);

  const auto xLeaf = x.clone().requires_grad_();
  const auto extraLeaf = extra.detach().clone().requires_grad_();
  (referenceForward(weights, xLeaf, torch::zeros({kWidth}), torch::ones({kWidth})) * extraLeaf).sum().backward();
  ASSERT_EQ(grads.size(), 2u);
  EXPECT_TRUE(torch::allclose(grads[0], xLeaf.grad(), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(grads[1], extraLeaf.grad(), 1e-5, 1e-6));
  expectWeightGrads(*stage, weights);
}

TEST_P(StageTest, FirstStageWithoutInputGradientsStillGetsEveryWeightGradient) {
  auto stage = makeStage(/*inputGetsGradient=*/false);
  const auto x = torch::randn({5, kWidth}), g = torch::randn({5, kWidth});
  const Weights weights = snapshot(*stage);
  stage->forwardStashed(3, {x});
  const auto inputGrads = stage->backwardInputs(3, {g});
  EXPECT_FALSE(inputGrads[0].defined());
  if (GetParam().deferWeightGradients) stage->backwardWeights(3);
  referenceForward(weights, x, torch::zeros({kWidth}), torch::ones({kWidth})).backward(g);
  expectWeightGrads(*stage, weights);
}

TEST_P(StageTest, RefusesUnknownMicroBatchesAndAWeightPassBeforeItsInputPass) {
  auto stage = makeStage();
  EXPECT_THROW(stage->backwardInputs(9, {torch::ones({1, kWidth})}), InvalidArgumentError);
  EXPECT_THROW(stage->backwardWeights(9), InvalidArgumentError);
  stage->forwardStashed(1, {torch::randn({2, kWidth})});
  EXPECT_THROW(stage->forwardStashed(1, {torch::randn({2, kWidth})}), InvalidArgumentError);
  EXPECT_THROW(stage->backwardWeights(1), InvalidArgumentError);
}

TEST_P(StageTest, WarmUpLeavesWeightsGradientsAndStatisticsAsTheyWere) {
  auto stage = makeStage();
  std::map<std::string, at::Tensor> before;
  for (const auto& [name, tensor] : named(*stage)) before[name] = tensor.detach().clone();
  stage->warmUp({torch::randn({5, kWidth})});
  for (const auto& [name, tensor] : named(*stage)) {
    EXPECT_TRUE(torch::equal(tensor, before.at(name))) << name << " changed";
    EXPECT_FALSE(tensor.grad().defined()) << name << " got a gradient";
  }
  EXPECT_EQ(stage->pendingBackwards(), 0u);
  EXPECT_EQ(stage->weightStash().stashedVersions(), 0u);
  // A micro-batch after the warm-up computes what it computes on a fresh stage.
  const auto x = torch::randn({5, kWidth}), g = torch::randn({5, kWidth});
  const Weights weights = snapshot(*stage);
  stage->forwardStashed(1, {x});
  stage->backwardInputs(1, {g});
  if (GetParam().deferWeightGradients) stage->backwardWeights(1);
  referenceForward(weights, x, torch::zeros({kWidth}), torch::ones({kWidth})).backward(g);
  expectWeightGrads(*stage, weights);
}

TEST_P(StageTest, WarmUpThatTheModuleRefusesThrowsAndChangesNothing) {
  auto stage = makeStage();
  std::map<std::string, at::Tensor> before;
  for (const auto& [name, tensor] : named(*stage)) before[name] = tensor.detach().clone();
  EXPECT_ANY_THROW(stage->warmUp({torch::randn({5, kWidth + 1})}));
  for (const auto& [name, tensor] : named(*stage)) EXPECT_TRUE(torch::equal(tensor, before.at(name))) << name;
}

TEST(StageWarmUpTest, LeavesTheRandomStateWhereItWasForDropout) {
  torch::jit::Module module("DropoutNet");
  module.register_parameter("w", torch::randn({kWidth, kWidth}).requires_grad_(), false);
  module.define(R"(
def forward(self, x):
    return torch.dropout(torch.matmul(x, self.w), 0.5, True)
)");
  const auto path = (std::filesystem::temp_directory_path() /
                     ("ravnest_warm_up_test_" + std::to_string(::getpid()) + ".pt")).string();
  module.save(path);
  for (const bool recompute : {true, false}) {
    Stage stage(path, {true}, c10::Device(c10::kCPU), StageOptions{recompute, !recompute});
    torch::manual_seed(7);
    const auto expected = torch::rand({16});
    torch::manual_seed(7);
    stage.warmUp({torch::ones({64, kWidth})});
    EXPECT_TRUE(torch::equal(torch::rand({16}), expected)) << "recompute=" << recompute;
  }
  std::filesystem::remove(path);
}

std::string nameOf(const ::testing::TestParamInfo<StageOptions>& info) {
  return std::string(info.param.recompute ? "Recompute" : "KeptGraph") +
         (info.param.deferWeightGradients ? "DeferredW" : "WithB");
}

INSTANTIATE_TEST_SUITE_P(AllModes, StageTest,
                         ::testing::Values(StageOptions{true, false}, StageOptions{true, true},
                                           StageOptions{false, false}, StageOptions{false, true}),
                         nameOf);

}  // namespace
}  // namespace ravnest
