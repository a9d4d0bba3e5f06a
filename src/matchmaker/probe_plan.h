#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace ravnest::detail {

/// Jobs of up to this many providers measure every pair of them.
constexpr int kAllPairsUpTo = 16;
/// Beyond that, each provider probes this many others.
constexpr int kSampledPartners = 4;

/// The pairs (i < j, indices into a job's providers) whose links are measured before clusters are formed.
/// Up to kAllPairsUpTo providers: all n(n-1)/2 pairs. Beyond: the providers are put in a random order (from
/// `seed`) and each probes the next kSampledPartners in that cyclic order, so every provider has 2×kSampledPartners
/// measured links, the measured graph is connected, and the count grows as n×kSampledPartners rather than n².
/// The links not measured are estimated from both ends' links to the matchmaker (docs/matchmaker.md).
std::vector<std::pair<int, int>> probePairs(int n, uint64_t seed);

}  // namespace ravnest::detail
