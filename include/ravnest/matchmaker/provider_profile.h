#pragma once

#include <string>

namespace ravnest {

/// What a provider measures about itself when it joins a matchmaker (docs/matchmaker.md).
struct ProviderProfile {
  double ramGb = 0;         // MemAvailable of /proc/meminfo (or the cgroup limit, if lower)
  double matmulGflops = 0;  // float32 matrix product on the CPU
  double convGflops = 0;    // forward pass of a reference convolution on the CPU
  std::string gpu;          // first CUDA device's name; empty without one
  double gpuGflops = 0;     // float32 matrix product on that device
  int cpuCores = 0;
};

/// Measures this machine: memory, then timed float32 work (each kernel warmed up once, then the best of a few
/// runs of at least `secondsPerKernel` in total). Takes about 4 × secondsPerKernel, more with a GPU.
ProviderProfile measureProvider(double secondsPerKernel = 0.25);

}  // namespace ravnest
