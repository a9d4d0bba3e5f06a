#include "config/ring_plan.h"

#include <cstdint>
#include <limits>
#include <set>

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

// Ring ids at or above 2^31 belong to the optimizer state's twins (docs/node_data.md).
constexpr uint32_t kFirstDerivedRingId = uint32_t{1} << 31;
// A ring is reduced in float64 at worst: its whole range, in bytes, must fit an int64.
constexpr int64_t kMaxRingElements = std::numeric_limits<int64_t>::max() / static_cast<int64_t>(sizeof(double));

}  // namespace

void validateRingPlan(const NodeConfig& config, const std::string& path) {
  RAVNEST_CHECK_AS(ConfigError, config.ringSize >= 1 && config.ringSize <= kMaxRingSize, "'", path, "': ring_size ",
                   config.ringSize, " is outside [1, ", kMaxRingSize, "]");
  RAVNEST_CHECK_AS(ConfigError, config.rank >= 0 && config.rank < config.ringSize, "'", path, "': rank ",
                   config.rank, " is outside a ring of size ", config.ringSize);
  std::set<uint32_t> ringIds;
  for (const RingMembership& ring : config.rings) {
    RAVNEST_CHECK_AS(ConfigError, ringIds.insert(ring.ringId).second, "'", path, "': ring ", ring.ringId,
                     " appears twice");
    RAVNEST_CHECK_AS(ConfigError, ring.ringId < kFirstDerivedRingId, "'", path, "': ring id ", ring.ringId,
                     " is not below 2^31");
    RAVNEST_CHECK_AS(ConfigError, !ring.params.empty() && ring.params.size() == ring.numels.size(), "'", path,
                     "': ring ", ring.ringId, " lists ", ring.params.size(), " params and ", ring.numels.size(),
                     " numels; it needs one element count per param, and at least one param");
    int64_t total = 0;
    for (const int64_t numel : ring.numels) {
      RAVNEST_CHECK_AS(ConfigError, numel >= 0 && numel <= kMaxRingElements - total, "'", path, "': ring ",
                       ring.ringId, " has an element count of ", numel, " (negative, or the ring grows past ",
                       kMaxRingElements, " elements)");
      total += numel;
    }
    RAVNEST_CHECK_AS(ConfigError, config.ringSize == 1 || !ring.nextAddress.empty(), "'", path, "': ring ",
                     ring.ringId, " has no next address in a job of ", config.ringSize, " clusters");
  }
}

}  // namespace ravnest::detail
