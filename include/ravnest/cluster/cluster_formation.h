#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace ravnest {

// What cluster formation needs to know about one provider.
struct NodeResources {
  double ramGb = 0.0;          // memory the node offers for training, GB
  double bandwidthMbps = 0.0;  // network bandwidth, Mbps (measured: its upload rate to the matchmaker)
  double gflops = 0.0;         // compute speed; 0: unknown (then compute plays no part)
  double latencyMs = 0.0;      // one-way latency to the matchmaker; estimates the links not measured
};

/// A measured link between two nodes (indices into the node list), the same both ways.
struct MeasuredLink {
  int a = 0;
  int b = 0;
  double bandwidthMbps = 0.0;
  double latencyMs = 0.0;  // one way
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
  /// Links measured between nodes. Given any, clusters are also judged by the links inside them (see
  /// linkSpeedMbps) and each cluster's stage order follows its fastest links. A pair not listed is estimated
  /// from both nodes' links to the matchmaker: the smaller bandwidth, the sum of the latencies.
  std::vector<MeasuredLink> links;
};

struct ClusterFormationResult {
  // Node indices per cluster. Without links each cluster is sorted; with links it is in stage order (see
  // orderStages). Clusters are ordered by their smallest node index. Every node appears in exactly one
  // cluster, and no cluster is empty.
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

/// How fast a link moves a 1 MB message: 8 Mbit / (latency + 8 Mbit / bandwidth), in Mbit/s. One figure for a
/// link that weighs its latency and its bandwidth as a pipeline's activations do.
double linkSpeedMbps(double bandwidthMbps, double latencyMs);

/// The order of `cluster`'s nodes (stage order) whose slowest link between neighbouring stages is the fastest
/// (ties: the larger sum of link speeds): every order for up to 8 nodes; beyond, the best greedy chain from
/// each starting node (always continuing to the fastest-linked unused node).
std::vector<int> orderStages(const std::vector<int>& cluster, const std::vector<NodeResources>& nodes,
                             const std::vector<MeasuredLink>& links);

}  // namespace ravnest
