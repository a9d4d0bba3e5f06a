#include "comm/receive_buffer_pool.h"

#include <cstdlib>
#include <new>

#include <ATen/ATen.h>

namespace ravnest::detail {
namespace {

constexpr int64_t kSharedPoolBytes = int64_t{1} << 30;
constexpr size_t kAlignment = 64;

}  // namespace

ReceiveBufferPool& ReceiveBufferPool::shared() {
  static auto* pool = new ReceiveBufferPool(kSharedPoolBytes);
  return *pool;
}

at::Tensor ReceiveBufferPool::take(int64_t bytes) {
  void* data = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = idle_.find(bytes);
    if (found != idle_.end()) {
      data = found->second;
      idle_.erase(found);
      cachedBytes_ -= bytes;
    }
  }
  if (data == nullptr) {
    data = std::aligned_alloc(kAlignment, (static_cast<size_t>(bytes) + kAlignment - 1) / kAlignment * kAlignment);
    if (data == nullptr && bytes > 0) throw std::bad_alloc();
  }
  return at::from_blob(
      data, {bytes}, [this, bytes](void* released) { giveBack(released, bytes); }, at::TensorOptions(at::kByte));
}

void ReceiveBufferPool::giveBack(void* data, int64_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cachedBytes_ + bytes <= maxCachedBytes_) {
      idle_.emplace(bytes, data);
      cachedBytes_ += bytes;
      return;
    }
  }
  std::free(data);
}

int64_t ReceiveBufferPool::cachedBytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cachedBytes_;
}

}  // namespace ravnest::detail
