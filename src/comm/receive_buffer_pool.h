#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ravnest::detail {

/// Recycles the memory of received payloads. A training run receives tensors of the same few sizes over and
/// over; a fresh allocation of that size is mapped anew by the kernel, and touching it page-faults every 4 KiB
/// (measured: the page faults alone halved the transport's throughput on a virtual machine). Buffers handed
/// out here return to the pool when the last tensor using them dies, and the next message of that size
/// reuses them, already mapped. The pool keeps at most `maxCachedBytes` idle. Thread-safe.
class ReceiveBufferPool {
 public:
  explicit ReceiveBufferPool(int64_t maxCachedBytes) : maxCachedBytes_(maxCachedBytes) {}

  /// The process-wide pool used by every PeerServer. Never destroyed, so late tensor deleters stay valid.
  static ReceiveBufferPool& shared();

  /// A 1-D uint8 CPU tensor of `bytes` bytes, contents undefined.
  at::Tensor take(int64_t bytes);

  int64_t cachedBytes() const;

 private:
  void giveBack(void* data, int64_t bytes);

  const int64_t maxCachedBytes_;
  mutable std::mutex mutex_;
  std::multimap<int64_t, void*> idle_;
  int64_t cachedBytes_ = 0;
};

}  // namespace ravnest::detail
