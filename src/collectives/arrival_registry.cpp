#include "collectives/arrival_registry.h"

#include "ravnest/common/error.h"

namespace ravnest::detail {

void ArrivalRegistry::open(size_t ring, uint64_t round, at::Tensor sums, at::Tensor values) {
  std::lock_guard<std::mutex> lock(mutex_);
  open_.at(ring) = OpenRound{round, std::move(sums), std::move(values), {}};
}

void ArrivalRegistry::close(size_t ring) {
  std::lock_guard<std::mutex> lock(mutex_);
  open_.at(ring).reset();
}

std::optional<ArrivalReduction> ArrivalRegistry::claim(size_t ring, uint64_t round, uint32_t step, uint32_t segment,
                                                       int64_t begin, int64_t end) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::optional<OpenRound>& open = open_.at(ring);
  if (!open || open->round != round) return std::nullopt;
  RAVNEST_CHECK_AS(ProtocolError, open->claimed.emplace(step, segment).second, "ring chunk: round ", round,
                   " reduce-scatter step ", step, " segment ", segment, " arrived twice");
  return ArrivalReduction{open->sums.slice(0, begin, end), open->values.slice(0, begin, end)};
}

}  // namespace ravnest::detail
