#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace ravnest {

// What cluster formation needs to know about one provider.
struct NodeResources {
  double ramGb = 0.0;          // memory the node offers for training, GB
  double bandwidthMbps = 0.0;  // network bandwidth, Mbps
};

struct ClusterFormationOptions {
  double modelSizeGb = 0.0;          // peak training memory of the whole model, GB
  std::optional<int> numClusters;    // fixed cluster count; unset lets the search choose
  std::uint64_t seed = 0;            // same seed and inputs give the same clusters
  int populationSize = 48;
  int maxGenerations = 150;
  int generationsWithoutImprovement = 30;  // stop early once the best stops improving
  int tournamentSize = 3;
  int eliteCount = 2;                // best individuals copied unchanged into the next generation
};

struct ClusterFormationResult {
  // Node indices per cluster. Each cluster is sorted and non-empty; clusters are ordered by their
  // smallest node index. Every node appears in exactly one cluster.
  std::vector<std::vector<int>> clusters;
  // True when every cluster's RAM sum reaches the model size. When false, `clusters` holds the
  // best attempt (for reporting) and must not be used for training.
  bool feasible = false;
  double fitness = 0.0;  // cost of the returned clustering; lower is better
};

// Groups nodes into data-parallel clusters whose RAM can hold the model, using a genetic algorithm.
// With `numClusters` unset it returns the largest number of clusters that can each hold the model
// (more clusters means more data parallelism); with it set it returns exactly that many clusters.
// Within a cluster count it minimises the spread of cluster speeds (a cluster is as fast as its
// slowest link). Pure function: thread-safe and deterministic for a given seed.
// Throws InvalidArgumentError when `nodes` is empty, a RAM or bandwidth value is not positive,
// the model size is not positive, or `numClusters` is outside [1, nodes.size()].
ClusterFormationResult formClusters(const std::vector<NodeResources>& nodes,
                                    const ClusterFormationOptions& options);

}  // namespace ravnest
