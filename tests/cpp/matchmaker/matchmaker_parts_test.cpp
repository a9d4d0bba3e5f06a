// The matchmaker's parts that need no service: which links are probed, how a stream's rate is read, which
// artifact paths are refused, and a real probe over loopback.
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "matchmaker/artifact_files.h"
#include "matchmaker/link_probe.h"
#include "matchmaker/probe_plan.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

TEST(ProbePlanTest, SmallJobsProbeEveryPair) {
  EXPECT_TRUE(probePairs(1, 0).empty());
  EXPECT_EQ(probePairs(6, 0).size(), 15u);
  EXPECT_EQ(probePairs(kAllPairsUpTo, 0).size(), static_cast<size_t>(kAllPairsUpTo * (kAllPairsUpTo - 1) / 2));
}

TEST(ProbePlanTest, LargeJobsProbeAConnectedSampleThatGrowsLinearly) {
  const int n = 1000;
  const auto pairs = probePairs(n, 7);
  EXPECT_LE(pairs.size(), static_cast<size_t>(n * kSampledPartners));
  EXPECT_GE(pairs.size(), static_cast<size_t>(n * kSampledPartners) - 10);
  std::vector<int> degree(n, 0);
  std::vector<int> parent(n);
  for (int i = 0; i < n; ++i) parent[i] = i;
  std::function<int(int)> find = [&](int x) { return parent[x] == x ? x : parent[x] = find(parent[x]); };
  for (const auto& [a, b] : pairs) {
    ASSERT_LT(a, b);
    ++degree[a];
    ++degree[b];
    parent[find(a)] = find(b);
  }
  std::set<int> components;
  for (int i = 0; i < n; ++i) {
    EXPECT_GE(degree[i], kSampledPartners) << "provider " << i;
    components.insert(find(i));
  }
  EXPECT_EQ(components.size(), 1u);
}

TEST(LinkProbeTest, TheRateSkipsTheFirstQuarterOfTheStream) {
  // Slow start: 1 MB in the first second, then 10 MB/s for three seconds.
  std::vector<std::pair<double, uint64_t>> samples{{0, 0}, {1, 1000000}, {2, 11000000}, {3, 21000000},
                                                   {4, 31000000}};
  EXPECT_NEAR(streamRateMbps(samples), 80.0, 1e-9);
  EXPECT_EQ(streamRateMbps({}), 0.0);
}

TEST(LinkProbeTest, ALoopbackProbeMeasuresARoundTripAndARate) {
  ProbeListener listener("127.0.0.1", 0, "token");
  const auto figures = probeLink("127.0.0.1:" + std::to_string(listener.port()), "token", 0.2);
  EXPECT_GT(figures.rttMs, 0.0);
  EXPECT_LT(figures.rttMs, 100.0);
  EXPECT_GT(figures.bandwidthMbps, 100.0);  // loopback moves gigabits
  EXPECT_THROW(probeLink("127.0.0.1:" + std::to_string(listener.port()), "wrong", 0.2), AuthenticationError);
}

TEST(ArtifactPathTest, OnlyRelativePathsInsideNodeDataPass) {
  EXPECT_NO_THROW(checkArtifactPath("cluster_0/127.0.0.1:8080/submod.pt"));
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../b", "a//b", "a/./b", "a\\b", "a/"}) {
    EXPECT_THROW(checkArtifactPath(bad), InvalidArgumentError) << bad;
  }
}

TEST(ArtifactChecksumTest, Sha256OfAKnownString) {
  Sha256 sha;
  sha.add("abc", 3);
  EXPECT_EQ(sha.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace ravnest::detail
