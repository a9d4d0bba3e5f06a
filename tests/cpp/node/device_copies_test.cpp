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
  const DeviceCopies copies{c10::Device(c10::kCPU)};
  EXPECT_FALSE(copies.active());
  const at::Tensor values = torch::arange(12, torch::kFloat).reshape({3, 4});
  Message message = activationWith(values);
  auto mark = copies.markReady(message);
  copies.toHost(message, mark);
  copies.toDevice(message);
  copies.adopt(message);
  ASSERT_EQ(message.tensors.size(), 2u);
  EXPECT_EQ(message.tensors[0].tensor.data_ptr(), values.data_ptr());
  EXPECT_EQ(takeMeta(message).batch, 7);
}

// Enough queued work on the compute stream that a copy not waiting for it would read unfinished values, and
// that the stream is still busy when a copy on another stream has long finished.
at::Tensor afterLongWork(const c10::Device& cuda) {
  at::Tensor values = torch::ones({4096, 4096}, torch::TensorOptions().device(cuda));
  for (int i = 0; i < 50; ++i) values = values.matmul(torch::eye(4096, values.options())) + 1;
  return values;
}

// The CUDA tests run only where LibTorch has CUDA and a GPU is present; skipped (not passed) on the CPU build.
TEST(DeviceCopiesTest, OnCudaCopiesWaitForTheComputeStreamAndLeaveTheHeaderOnTheHost) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const c10::Device cuda(c10::kCUDA, 0);
  const DeviceCopies copies(cuda);
  ASSERT_TRUE(copies.active());
  Message outgoing = activationWith(afterLongWork(cuda));
  auto mark = copies.markReady(outgoing);
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

TEST(DeviceCopiesTest, OnCudaArrivalsDoNotWaitForTheComputeStreamAndAdoptedMemoryIsNotReusedEarly) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const c10::Device cuda(c10::kCUDA, 0);
  const DeviceCopies copies(cuda);
  const auto computeStream = c10::impl::getDeviceGuardImpl(c10::kCUDA)->getStream(cuda);
  at::Tensor busy = afterLongWork(cuda);
  Message first = activationWith(torch::full({256, 256}, 1.0f));
  std::thread([&] { copies.toDevice(first); }).join();
  EXPECT_FALSE(computeStream.query()) << "the arrival waited for the compute stream";
  copies.adopt(first);
  const void* adoptedMemory = first.tensors[0].tensor.data_ptr();
  busy = busy + first.tensors[0].tensor.sum();  // the compute stream reads the arrival after its long work
  first.tensors.clear();
  Message second = activationWith(torch::full({256, 256}, 2.0f));
  std::thread([&] { copies.toDevice(second); }).join();
  EXPECT_NE(second.tensors[0].tensor.data_ptr(), adoptedMemory)
      << "memory the compute stream still reads was handed to the copy stream";
  EXPECT_FLOAT_EQ(second.tensors[0].tensor.sum().item<float>(), 2.0f * 256 * 256);
}

}  // namespace
}  // namespace ravnest::detail
