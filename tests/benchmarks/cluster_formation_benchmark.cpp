// Cluster formation benchmark: how long the genetic algorithm takes for 16, 64 and 256 heterogeneous nodes.
// The bar (issue: "64 nodes in under a second") is an absolute one: there is no other implementation to race.
// Run: build/tests/benchmarks/ravnest_cluster_formation_benchmark
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "ravnest/cluster/cluster_formation.h"

int main() {
  for (const int nodeCount : {16, 64, 256}) {
    std::vector<ravnest::NodeResources> nodes;
    for (int i = 0; i < nodeCount; ++i) nodes.push_back({1.0 + (i * 7) % 13, 10.0 + (i * 11) % 90});
    ravnest::ClusterFormationOptions options;
    options.modelSizeGb = 25;
    std::vector<double> seconds;
    size_t clusters = 0;
    for (int run = 0; run < 5; ++run) {
      options.seed = static_cast<uint64_t>(run);
      const auto start = std::chrono::steady_clock::now();
      clusters = ravnest::formClusters(nodes, options).clusters.size();
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(seconds.begin(), seconds.end());
    std::printf("%4d nodes: median %8.2f ms over 5 seeds, %zu clusters%s\n", nodeCount, seconds[2] * 1e3, clusters,
                nodeCount == 64 ? "   (bar: < 1000 ms)" : "");
  }
  return 0;
}
