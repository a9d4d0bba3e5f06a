#include "ravnest/comm/traffic_counters.h"

#include <mutex>

namespace ravnest {

void PeerByteCounts::add(const std::string& peer, uint64_t bytes) {
  {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    const auto found = counts_.find(peer);
    if (found != counts_.end()) {
      found->second->fetch_add(bytes, std::memory_order_relaxed);
      return;
    }
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto& slot = counts_[peer];
  if (!slot) slot = std::make_unique<std::atomic<uint64_t>>(0);
  slot->fetch_add(bytes, std::memory_order_relaxed);
}

std::map<std::string, uint64_t> PeerByteCounts::snapshot() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::map<std::string, uint64_t> result;
  for (const auto& [peer, count] : counts_) result[peer] = count->load(std::memory_order_relaxed);
  return result;
}

}  // namespace ravnest
