#include "matchmaker/probe_plan.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

namespace ravnest::detail {

std::vector<std::pair<int, int>> probePairs(int n, uint64_t seed) {
  std::vector<std::pair<int, int>> pairs;
  if (n <= kAllPairsUpTo) {
    for (int i = 0; i < n; ++i) {
      for (int j = i + 1; j < n; ++j) pairs.emplace_back(i, j);
    }
    return pairs;
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 random(seed);
  std::shuffle(order.begin(), order.end(), random);
  std::set<std::pair<int, int>> unique;
  for (int k = 0; k < n; ++k) {
    for (int step = 1; step <= kSampledPartners; ++step) {
      const int a = order[k], b = order[(k + step) % n];
      unique.emplace(std::min(a, b), std::max(a, b));
    }
  }
  return {unique.begin(), unique.end()};
}

}  // namespace ravnest::detail
