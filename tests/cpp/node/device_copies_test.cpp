#include <gtest/gtest.h>

#include <thread>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "node/device_copies.h"
#include "node/micro_batch_meta.h"

namespace ravnest::detail {
namespace {

Message activationWith(const at::Tensor& values) {
  Message message;
  message.tensors.push_back({"x", values});
  attachMeta(message, {StreamKind::kTrain, 3, false, 7});
  return message;
}

TEST(DeviceCopiesTest, OnTheCpuMessagesPassThroughWithoutACopy) {
  const DeviceCopies copies(c10::Device(c10::kCPU));
  EXPECT_FALSE(copies.active());
  const at::Tensor values = torch::arange(12, torch::kFloat).reshape({3, 4});
  Message message = activationWith(values);
  auto mark = copies.markReady();
  copies.toHost(message, mark);
  copies.toDevice(message);
  copies.adopt(message);
  ASSERT_EQ(message.tensors.size(), 2u);
  EXPECT_EQ(message.tensors[0].tensor.data_ptr(), values.data_ptr());
  EXPECT_EQ(takeMeta(message).batch, 7);
}

// Runs only where LibTorch has CUDA and a GPU is present; skipped (not passed) on the CPU build.
TEST(DeviceCopiesTest, OnCudaCopiesWaitForTheComputeStreamAndLeaveTheHeaderOnTheHost) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const c10::Device cuda(c10::kCUDA, 0);
  const DeviceCopies copies(cuda);
  ASSERT_TRUE(copies.active());
  // Enough queued kernels that a copy not waiting for them would read unfinished values.
  at::Tensor values = torch::ones({4096, 4096}, torch::TensorOptions().device(cuda));
  for (int i = 0; i < 50; ++i) values = values.matmul(torch::eye(4096, values.options())) + 1;
  Message outgoing = activationWith(values);
  auto mark = copies.markReady();
  std::thread([&] { copies.toHost(outgoing, mark); }).join();
  ASSERT_TRUE(outgoing.tensors[0].tensor.is_cpu());
  EXPECT_TRUE(torch::equal(outgoing.tensors[0].tensor, torch::full({4096, 4096}, 51.0f)));

  Message incoming = activationWith(torch::full({64, 64}, 2.5f));
  std::thread([&] { copies.toDevice(incoming); }).join();
  copies.adopt(incoming);
  EXPECT_EQ(incoming.tensors[0].tensor.device(), cuda);
  EXPECT_TRUE(incoming.tensors[1].tensor.is_cpu());
  EXPECT_FLOAT_EQ(incoming.tensors[0].tensor.sum().item<float>(), 2.5f * 64 * 64);
  EXPECT_EQ(takeMeta(incoming).epoch, 3);
}

}  // namespace
}  // namespace ravnest::detail
