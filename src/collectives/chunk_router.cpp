#include "collectives/chunk_router.h"

#include <algorithm>

#include "ravnest/common/error.h"

namespace ravnest::detail {

at::Tensor ChunkRouter::take(const ChunkKey& key, std::chrono::steady_clock::time_point deadline,
                             const std::string& waitingFor) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (auto found = parked_.find(key); found != parked_.end()) {
      at::Tensor chunk = std::move(found->second);
      parked_.erase(found);
      return chunk;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      throw TimeoutError(detail::concat("ring ", key.ringId, " round ", key.round, " ",
                                        key.phase == 0 ? "reduce-scatter" : "all-gather", " step ", key.step,
                                        ": no chunk from ", waitingFor,
                                        " within the deadline. Check that every cluster's node of this ring is "
                                        "running and reached the same all-reduce"));
    }
    if (reading_) {
      chunkParked_.wait_until(lock, deadline);
      continue;
    }
    reading_ = true;
    lock.unlock();
    auto message = inbox_.pop(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                              std::chrono::milliseconds(1));
    lock.lock();
    reading_ = false;
    if (message && !message->tensors.empty()) {
      const RingTag& tag = message->ring;
      parked_[ChunkKey{tag.ringId, tag.round, tag.phase, tag.step, tag.segment}] =
          std::move(message->tensors.front().tensor);
    }
    chunkParked_.notify_all();
  }
}

}  // namespace ravnest::detail
