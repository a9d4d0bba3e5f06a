#include "ravnest/matchmaker/provider_profile.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <thread>

namespace ravnest {
namespace {

constexpr double kBytesPerGb = 1e9;

// MemAvailable of /proc/meminfo, in bytes; 0 when unknown.
double availableMemoryBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

// What a cgroup v2 memory limit leaves to this process, in bytes; infinity without a limit.
double cgroupMemoryLeftBytes() {
  std::ifstream maxFile("/sys/fs/cgroup/memory.max"), currentFile("/sys/fs/cgroup/memory.current");
  std::string limit;
  double current = 0;
  if (!(maxFile >> limit) || limit == "max" || !(currentFile >> current))
    return std::numeric_limits<double>::infinity();
  return std::max(0.0, std::stod(limit) - current);
}

// Best FLOP/s of `run` (which performs `flops` operations), warmed up once, over runs of about `seconds` in all.
double bestRate(const std::function<void()>& run, double flops, double seconds) {
  run();
  double best = 0;
  const auto start = std::chrono::steady_clock::now();
  int runs = 0;
  while (runs < 3 || std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    const auto begin = std::chrono::steady_clock::now();
    run();
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    best = std::max(best, flops / std::max(took, 1e-9));
    if (++runs >= 200) break;
  }
  return best;
}

}  // namespace

ProviderProfile measureProvider(double secondsPerKernel) {
  torch::NoGradGuard noGrad;
  ProviderProfile profile;
  profile.ramGb = std::min(availableMemoryBytes(), cgroupMemoryLeftBytes()) / kBytesPerGb;
  profile.cpuCores = static_cast<int>(std::thread::hardware_concurrency());
  constexpr int64_t kSide = 512;
  const auto a = torch::randn({kSide, kSide}), b = torch::randn({kSide, kSide});
  profile.matmulGflops = bestRate([&] { (void)torch::mm(a, b); }, 2.0 * kSide * kSide * kSide, secondsPerKernel) / 1e9;
  // A ResNet-style 3x3 convolution: 8 images of 64 channels, 32x32.
  const auto input = torch::randn({8, 64, 32, 32}), weight = torch::randn({64, 64, 3, 3});
  const double convFlops = 2.0 * 8 * 64 * 32 * 32 * 64 * 9;
  profile.convGflops =
      bestRate([&] { (void)torch::conv2d(input, weight, {}, 1, 1); }, convFlops, secondsPerKernel) / 1e9;
  if (torch::cuda::is_available()) {
    constexpr int64_t kGpuSide = 4096;
    const auto options = torch::TensorOptions().device(torch::kCUDA);
    const auto x = torch::randn({kGpuSide, kGpuSide}, options), y = torch::randn({kGpuSide, kGpuSide}, options);
    std::ostringstream name;
    name << "cuda:0 (" << torch::cuda::device_count() << " device" << (torch::cuda::device_count() > 1 ? "s" : "")
         << ")";
    profile.gpu = name.str();
    const auto multiply = [&] {
      (void)torch::mm(x, y);
      torch::cuda::synchronize();
    };
    profile.gpuGflops = bestRate(multiply, 2.0 * kGpuSide * kGpuSide * kGpuSide, secondsPerKernel) / 1e9;
  }
  return profile;
}

}  // namespace ravnest
