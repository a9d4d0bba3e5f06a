#include "ravnest/cluster/cluster_formation.h"

#include <gtest/gtest.h>

#include "ravnest/common/error.h"

#include <set>

namespace ravnest {
namespace {

ClusterFormationOptions optionsFor(double modelSizeGb, std::uint64_t seed = 42) {
  ClusterFormationOptions options;
  options.modelSizeGb = modelSizeGb;
  options.seed = seed;
  return options;
}

double ramOf(const std::vector<int>& cluster, const std::vector<NodeResources>& nodes) {
  double ram = 0.0;
  for (int node : cluster) ram += nodes[node].ramGb;
  return ram;
}

// Every node in exactly one non-empty cluster.
void expectPartitionOfAllNodes(const ClusterFormationResult& result, std::size_t nodeCount) {
  std::set<int> seen;
  for (const auto& cluster : result.clusters) {
    EXPECT_FALSE(cluster.empty());
    for (int node : cluster) EXPECT_TRUE(seen.insert(node).second) << "node " << node << " twice";
  }
  EXPECT_EQ(seen.size(), nodeCount);
}

const std::vector<NodeResources> kSevenMixedNodes = {
    {8, 100}, {16, 20}, {4, 100}, {32, 50}, {2, 10}, {12, 100}, {6, 20}};

TEST(ClusterFormationTest, SingleNodeFormsOneCluster) {
  const auto result = formClusters({{8, 10}}, optionsFor(4));
  EXPECT_TRUE(result.feasible);
  ASSERT_EQ(result.clusters.size(), 1u);
  EXPECT_EQ(result.clusters[0], std::vector<int>{0});
}

TEST(ClusterFormationTest, SevenHeterogeneousNodesFormFeasibleClusters) {
  const auto result = formClusters(kSevenMixedNodes, optionsFor(20));
  EXPECT_TRUE(result.feasible);
  expectPartitionOfAllNodes(result, kSevenMixedNodes.size());
  // 80 GB would need four clusters of exactly 20 GB, which the 32 GB node rules out; three are
  // reachable (for example 32 | 16+4 | 12+8+6+2).
  EXPECT_EQ(result.clusters.size(), 3u);
  for (const auto& cluster : result.clusters) EXPECT_GE(ramOf(cluster, kSevenMixedNodes), 20);
}

TEST(ClusterFormationTest, InfeasibleWhenAllNodesTogetherLackMemory) {
  const auto result = formClusters({{1, 10}, {2, 10}, {3, 10}}, optionsFor(7));
  EXPECT_FALSE(result.feasible);
  expectPartitionOfAllNodes(result, 3);
}

TEST(ClusterFormationTest, SameSeedGivesSameClusters) {
  const auto first = formClusters(kSevenMixedNodes, optionsFor(20, 7));
  const auto second = formClusters(kSevenMixedNodes, optionsFor(20, 7));
  EXPECT_EQ(first.clusters, second.clusters);
  EXPECT_EQ(first.fitness, second.fitness);
}

TEST(ClusterFormationTest, FixedClusterCountIsRespected) {
  auto options = optionsFor(10);
  options.numClusters = 2;
  const auto result = formClusters(kSevenMixedNodes, options);
  EXPECT_TRUE(result.feasible);
  EXPECT_EQ(result.clusters.size(), 2u);
  expectPartitionOfAllNodes(result, kSevenMixedNodes.size());
}

TEST(ClusterFormationTest, FixedCountThatCannotHoldTheModelIsReportedInfeasible) {
  auto options = optionsFor(30);
  options.numClusters = 3;  // 80 GB cannot make three clusters of 30 GB
  const auto result = formClusters(kSevenMixedNodes, options);
  EXPECT_FALSE(result.feasible);
  EXPECT_EQ(result.clusters.size(), 3u);
}

TEST(ClusterFormationTest, PrefersClustersOfEvenSpeed) {
  // Two fast and two slow nodes, each pair able to hold the model: pairing fast with fast and slow
  // with slow gives speeds {100, 10}; mixing gives {10, 10}, which is even.
  const std::vector<NodeResources> nodes = {{5, 100}, {5, 100}, {5, 10}, {5, 10}};
  auto options = optionsFor(10);
  const auto result = formClusters(nodes, options);
  ASSERT_EQ(result.clusters.size(), 2u);
  for (const auto& cluster : result.clusters) {
    ASSERT_EQ(cluster.size(), 2u);
    EXPECT_NE(nodes[cluster[0]].bandwidthMbps, nodes[cluster[1]].bandwidthMbps);
  }
}

TEST(ClusterFormationTest, NeverReturnsEmptyClusters) {
  auto options = optionsFor(1);
  options.numClusters = 7;
  const auto result = formClusters(kSevenMixedNodes, options);
  EXPECT_EQ(result.clusters.size(), 7u);
  expectPartitionOfAllNodes(result, kSevenMixedNodes.size());
}

TEST(ClusterFormationTest, SixtyFourNodesFormFeasibleClusters) {
  std::vector<NodeResources> nodes;
  for (int i = 0; i < 64; ++i) nodes.push_back({1.0 + (i * 7) % 13, 10.0 + (i * 11) % 90});
  const auto result = formClusters(nodes, optionsFor(25));
  EXPECT_TRUE(result.feasible);
  expectPartitionOfAllNodes(result, nodes.size());
}

TEST(ClusterFormationTest, RejectsInvalidInput) {
  EXPECT_THROW(formClusters({}, optionsFor(1)), InvalidArgumentError);
  EXPECT_THROW(formClusters({{0, 10}}, optionsFor(1)), InvalidArgumentError);
  EXPECT_THROW(formClusters({{1, 10}}, optionsFor(0)), InvalidArgumentError);
  auto options = optionsFor(1);
  options.numClusters = 2;
  EXPECT_THROW(formClusters({{1, 10}}, options), InvalidArgumentError);
}

}  // namespace
}  // namespace ravnest
