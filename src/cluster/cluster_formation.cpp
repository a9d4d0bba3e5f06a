// Genetic cluster formation.
//
// How it works:
// - An individual assigns every node a cluster index in [0, K). Its cost (lower is better) is
//     kMemoryPenalty * sum over clusters of max(0, M - ram_c) / M  +  stddev(speed_c) / mean(speed_c)
//   where M is the model size, ram_c the RAM sum of cluster c and speed_c its slowest member's
//   bandwidth (a pipeline runs at the pace of its slowest link, and the all-reduce waits for the
//   slowest cluster). The memory term dominates, so every feasible clustering beats every infeasible
//   one; among feasible ones the clusters with the most even speeds win.
// - The first generation holds one greedy individual (nodes by RAM, largest first, each to the
//   cluster with the least RAM so far) and random ones. Each next generation keeps the `eliteCount`
//   best unchanged (elitism), and fills the rest with children of two parents picked by tournament,
//   mixed by uniform crossover and mutated by moving each node to a random cluster with probability
//   1/n. A repair step then refills empty clusters from the largest one, so no cluster is ever empty.
// - The search stops after `maxGenerations`, or earlier once the best cost has not improved for
//   `generationsWithoutImprovement` generations.
// - With measured links (options.links) the cost gains two terms, so that well-connected nodes share a
//   cluster: the spread of the clusters' link speeds, and how far their mean falls below the fastest link there is
//   (a cluster's link speed is the slowest link of the maximum spanning tree over its members: the best any
//   stage order can do; a one-node cluster, which has no pipeline link, counts as the fastest; the yardstick is
//   the fastest peer link). With every node's GFLOP/s known, the spread of the clusters' summed GFLOP/s is added
//   as well (stages are sized by compute, so a cluster computes at about the sum of its members' speeds, and the
//   all-reduce waits for the slowest cluster).
// - With K left free, K runs from the largest count the total RAM allows down to 1, and the first K
//   whose best individual is feasible is returned. Above kLinearSearchUpTo candidate counts, K is the largest
//   count at which the greedy assignment is feasible, found by bisection, and one search runs there (the
//   greedy individual is in its first generation, so the result is feasible): 1,000 providers form in about a
//   second instead of one search per candidate count.
// - Randomness comes from std::mt19937_64 (its sequence is fixed by the C++ standard) with our own
//   range mapping, so one seed gives one result on every platform.

#include "ravnest/cluster/cluster_formation.h"

#include "ravnest/common/error.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <unordered_map>

namespace ravnest {
namespace {

constexpr double kMemoryPenalty = 1000.0;
constexpr int kLinearSearchUpTo = 64;
constexpr int kExhaustiveOrderUpTo = 8;
constexpr double kReferenceMessageMbit = 8.0;  // 1 MB

using Assignment = std::vector<int>;  // node index -> cluster index

class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}

  // Uniform integer in [0, bound); bound > 0. The modulo bias is negligible for our small bounds.
  int index(int bound) { return static_cast<int>(engine_() % static_cast<std::uint64_t>(bound)); }

  // Uniform double in [0, 1), from the top 53 bits.
  double unit() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

 private:
  std::mt19937_64 engine_;
};

double spread(const std::vector<double>& values) {
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / values.size();
  if (mean <= 0) return 0.0;
  double variance = 0.0;
  for (double v : values) variance += (v - mean) * (v - mean);
  return std::sqrt(variance / values.size()) / mean;
}

// Link speeds between nodes: measured where given, estimated from both nodes' links to the matchmaker otherwise.
class LinkTable {
 public:
  LinkTable(const std::vector<NodeResources>& nodes, const std::vector<MeasuredLink>& links) : nodes_(nodes) {
    for (const MeasuredLink& link : links) {
      const double speed = linkSpeedMbps(link.bandwidthMbps, link.latencyMs);
      auto [it, inserted] = measured_.emplace(key(link.a, link.b), speed);
      if (!inserted) it->second = std::min(it->second, speed);
      fastest_ = std::max(fastest_, speed);
    }
    // The yardstick is the fastest peer link: a node's link to the matchmaker is no pipeline link, and far faster
    // on a LAN, so measuring against it would shrink every difference between groupings.
    if (fastest_ == 0.0) {
      for (const NodeResources& node : nodes) fastest_ = std::max(fastest_, own(node));
    }
  }

  double speed(int a, int b) const {
    const auto found = measured_.find(key(a, b));
    if (found != measured_.end()) return found->second;
    return linkSpeedMbps(std::min(nodes_[a].bandwidthMbps, nodes_[b].bandwidthMbps),
                         nodes_[a].latencyMs + nodes_[b].latencyMs);
  }
  static double own(const NodeResources& node) { return linkSpeedMbps(node.bandwidthMbps, node.latencyMs); }
  double fastest() const { return fastest_; }

  // The measured pairs, fastest first.
  std::vector<std::pair<int, int>> pairsFastestFirst() const {
    std::vector<std::pair<double, std::uint64_t>> byKey;
    for (const auto& [pairKey, speed] : measured_) byKey.emplace_back(speed, pairKey);
    std::sort(byKey.begin(), byKey.end(), [](const auto& x, const auto& y) {
      return x.first != y.first ? x.first > y.first : x.second < y.second;
    });
    std::vector<std::pair<int, int>> pairs;
    for (const auto& [speed, pairKey] : byKey) {
      pairs.emplace_back(static_cast<int>(pairKey >> 32), static_cast<int>(pairKey & 0xffffffffu));
    }
    return pairs;
  }

  // The slowest edge of the maximum spanning tree over `count` members (Prim's algorithm, O(count^2)).
  double bottleneck(const int* members, std::size_t count) const {
    if (count == 1) return fastest_;  // one stage: no pipeline link holds it back
    best_.assign(count, -1.0);
    inTree_.assign(count, false);
    double slowest = INFINITY;
    best_[0] = INFINITY;
    for (std::size_t round = 0; round < count; ++round) {
      std::size_t pick = count;
      for (std::size_t i = 0; i < count; ++i) {
        if (!inTree_[i] && (pick == count || best_[i] > best_[pick])) pick = i;
      }
      inTree_[pick] = true;
      slowest = std::min(slowest, best_[pick]);
      for (std::size_t i = 0; i < count; ++i) {
        if (!inTree_[i]) best_[i] = std::max(best_[i], speed(members[pick], members[i]));
      }
    }
    return slowest;
  }

 private:
  static std::uint64_t key(int a, int b) {
    return (static_cast<std::uint64_t>(std::min(a, b)) << 32) | static_cast<std::uint32_t>(std::max(a, b));
  }
  const std::vector<NodeResources>& nodes_;
  std::unordered_map<std::uint64_t, double> measured_;
  double fastest_ = 0.0;
  mutable std::vector<double> best_;  // scratch space of bottleneck()
  mutable std::vector<bool> inTree_;
};

// Bottleneck and sum of the link speeds between neighbouring stages of `order`.
std::pair<double, double> chainSpeed(const std::vector<int>& order, const LinkTable& table) {
  double slowest = INFINITY, sum = 0.0;
  for (std::size_t i = 1; i < order.size(); ++i) {
    const double s = table.speed(order[i - 1], order[i]);
    slowest = std::min(slowest, s);
    sum += s;
  }
  return {slowest, sum};
}

std::vector<int> bestOrder(std::vector<int> cluster, const LinkTable& table) {
  if (cluster.size() <= 2) return cluster;
  std::vector<int> best = cluster;
  auto bestSpeed = chainSpeed(best, table);
  if (cluster.size() <= static_cast<std::size_t>(kExhaustiveOrderUpTo)) {
    std::sort(cluster.begin(), cluster.end());
    do {
      const auto speed = chainSpeed(cluster, table);
      if (speed > bestSpeed) {
        bestSpeed = speed;
        best = cluster;
      }
    } while (std::next_permutation(cluster.begin(), cluster.end()));
    return best;
  }
  for (std::size_t start = 0; start < cluster.size(); ++start) {
    std::vector<int> chain{cluster[start]};
    std::vector<bool> used(cluster.size(), false);
    used[start] = true;
    while (chain.size() < cluster.size()) {
      std::size_t next = cluster.size();
      for (std::size_t i = 0; i < cluster.size(); ++i) {
        if (!used[i] && (next == cluster.size() ||
                         table.speed(chain.back(), cluster[i]) > table.speed(chain.back(), cluster[next]))) {
          next = i;
        }
      }
      used[next] = true;
      chain.push_back(cluster[next]);
    }
    const auto speed = chainSpeed(chain, table);
    if (speed > bestSpeed) {
      bestSpeed = speed;
      best = chain;
    }
  }
  return best;
}

// Nodes by RAM, largest first, each to the cluster with the least RAM so far.
Assignment greedyAssignment(const std::vector<NodeResources>& nodes, int numClusters) {
  std::vector<int> byRam(nodes.size());
  std::iota(byRam.begin(), byRam.end(), 0);
  std::stable_sort(byRam.begin(), byRam.end(), [&](int a, int b) { return nodes[a].ramGb > nodes[b].ramGb; });
  std::vector<double> ram(numClusters, 0.0);
  Assignment genes(nodes.size());
  for (int node : byRam) {
    const int poorest = std::min_element(ram.begin(), ram.end()) - ram.begin();
    genes[node] = poorest;
    ram[poorest] += nodes[node].ramGb;
  }
  return genes;
}

// Whether the greedy assignment into `numClusters` clusters gives every cluster the model's memory.
bool greedyFeasible(const std::vector<NodeResources>& nodes, int numClusters, double modelSizeGb) {
  std::vector<double> ram(numClusters, 0.0);
  const Assignment genes = greedyAssignment(nodes, numClusters);
  for (std::size_t node = 0; node < genes.size(); ++node) ram[genes[node]] += nodes[node].ramGb;
  return *std::min_element(ram.begin(), ram.end()) >= modelSizeGb;
}

struct Individual {
  Assignment genes;
  double cost = 0.0;
};

class GeneticSearch {
 public:
  GeneticSearch(const std::vector<NodeResources>& nodes, const ClusterFormationOptions& options,
                int numClusters, Random& random)
      : nodes_(nodes), options_(options), numClusters_(numClusters), random_(random),
        links_(options.links.empty() ? nullptr : std::make_unique<LinkTable>(nodes, options.links)),
        useCompute_(!options.links.empty() &&
                    std::all_of(nodes.begin(), nodes.end(), [](const NodeResources& n) { return n.gflops > 0; })) {}

  Individual run() {
    std::vector<Individual> population = firstGeneration();
    Individual best = population.front();
    int stale = 0;
    for (int generation = 0; generation < options_.maxGenerations &&
                             stale < options_.generationsWithoutImprovement;
         ++generation) {
      population = nextGeneration(population);
      if (population.front().cost < best.cost) {
        best = population.front();
        stale = 0;
      } else {
        ++stale;
      }
    }
    return best;
  }

  double cost(const Assignment& genes) const {
    const int k = numClusters_;
    std::vector<double> ram(k, 0.0);
    std::vector<double> speed(k, INFINITY);
    for (std::size_t node = 0; node < genes.size(); ++node) {
      ram[genes[node]] += nodes_[node].ramGb;
      speed[genes[node]] = std::min(speed[genes[node]], nodes_[node].bandwidthMbps);
    }
    double deficit = 0.0;
    for (double clusterRam : ram) {
      deficit += std::max(0.0, options_.modelSizeGb - clusterRam) / options_.modelSizeGb;
    }
    double result = kMemoryPenalty * deficit;
    if (!links_) return result + spread(speed);
    // Members grouped by cluster in one buffer (a counting sort), reused across evaluations.
    offsets_.assign(k + 1, 0);
    for (int gene : genes) ++offsets_[gene + 1];
    for (int c = 0; c < k; ++c) offsets_[c + 1] += offsets_[c];
    grouped_.resize(genes.size());
    fill_.assign(offsets_.begin(), offsets_.end() - 1);
    compute_.assign(k, 0.0);
    for (std::size_t node = 0; node < genes.size(); ++node) {
      grouped_[fill_[genes[node]]++] = static_cast<int>(node);
      compute_[genes[node]] += nodes_[node].gflops;
    }
    linkSpeed_.resize(k);
    for (int c = 0; c < k; ++c) {
      linkSpeed_[c] = links_->bottleneck(grouped_.data() + offsets_[c], offsets_[c + 1] - offsets_[c]);
    }
    const std::vector<double>& linkSpeed = linkSpeed_;
    const std::vector<double>& compute = compute_;
    const double meanLink = std::accumulate(linkSpeed.begin(), linkSpeed.end(), 0.0) / k;
    result += spread(linkSpeed) + (1.0 - meanLink / links_->fastest());
    if (useCompute_) result += spread(compute);
    return result;
  }

 private:
  std::vector<Individual> firstGeneration() {
    std::vector<Individual> population;
    population.push_back(evaluated(greedyAssignment(nodes_, numClusters_)));
    if (links_) population.push_back(evaluated(linkedAssignment()));
    while (static_cast<int>(population.size()) < options_.populationSize) {
      Assignment genes(nodes_.size());
      for (int& gene : genes) gene = random_.index(numClusters_);
      repairEmptyClusters(genes);
      population.push_back(evaluated(std::move(genes)));
    }
    sortByCost(population);
    return population;
  }

  std::vector<Individual> nextGeneration(const std::vector<Individual>& parents) {
    const int eliteCount = std::min<int>(options_.eliteCount, parents.size());
    std::vector<Individual> children(parents.begin(), parents.begin() + eliteCount);
    while (children.size() < parents.size()) {
      const Individual& mother = tournament(parents);
      const Individual& father = tournament(parents);
      Assignment genes(nodes_.size());
      for (std::size_t node = 0; node < genes.size(); ++node) {
        genes[node] = random_.unit() < 0.5 ? mother.genes[node] : father.genes[node];
        if (random_.unit() < 1.0 / genes.size()) genes[node] = random_.index(numClusters_);
      }
      repairEmptyClusters(genes);
      children.push_back(evaluated(std::move(genes)));
    }
    sortByCost(children);
    return children;
  }

  const Individual& tournament(const std::vector<Individual>& population) {
    const Individual* winner = &population[random_.index(population.size())];
    for (int round = 1; round < options_.tournamentSize; ++round) {
      const Individual& challenger = population[random_.index(population.size())];
      if (challenger.cost < winner->cost) winner = &challenger;
    }
    return *winner;
  }

  // Single linkage along the measured links: nodes joined by the fastest links first, until K groups remain (then
  // the smallest groups are merged). With a link structure like sites of well-connected machines this is the
  // grouping the search should find; seeding it keeps the search from missing it on small, flat cost landscapes.
  Assignment linkedAssignment() {
    const int n = static_cast<int>(nodes_.size());
    std::vector<int> parent(n);
    std::iota(parent.begin(), parent.end(), 0);
    const auto find = [&parent](int x) {
      while (parent[x] != x) x = parent[x] = parent[parent[x]];
      return x;
    };
    int groups = n;
    for (const auto& [a, b] : links_->pairsFastestFirst()) {
      if (groups <= numClusters_) break;
      const int ra = find(a), rb = find(b);
      if (ra != rb) {
        parent[ra] = rb;
        --groups;
      }
    }
    std::vector<int> size(n, 0);
    for (int node = 0; node < n; ++node) ++size[find(node)];
    while (groups > numClusters_) {  // too few measured links: merge the two smallest groups
      std::vector<int> roots;
      for (int node = 0; node < n; ++node) {
        if (find(node) == node) roots.push_back(node);
      }
      std::sort(roots.begin(), roots.end(), [&](int x, int y) { return size[x] < size[y]; });
      parent[roots[0]] = roots[1];
      size[roots[1]] += size[roots[0]];
      --groups;
    }
    std::map<int, int> clusterOf;
    Assignment genes(n);
    for (int node = 0; node < n; ++node) {
      genes[node] = clusterOf.emplace(find(node), static_cast<int>(clusterOf.size())).first->second;
    }
    repairEmptyClusters(genes);
    return genes;
  }

  // Moves a random member of the largest cluster into each empty cluster. Needs n >= K.
  void repairEmptyClusters(Assignment& genes) {
    std::vector<int> sizes(numClusters_, 0);
    for (int gene : genes) ++sizes[gene];
    for (int empty = 0; empty < numClusters_; ++empty) {
      if (sizes[empty] > 0) continue;
      const int largest = std::max_element(sizes.begin(), sizes.end()) - sizes.begin();
      int pick = random_.index(sizes[largest]);
      for (int& gene : genes) {
        if (gene == largest && pick-- == 0) {
          gene = empty;
          break;
        }
      }
      --sizes[largest];
      ++sizes[empty];
    }
  }

  Individual evaluated(Assignment genes) const {
    const double c = cost(genes);
    return Individual{std::move(genes), c};
  }

  static void sortByCost(std::vector<Individual>& population) {
    std::stable_sort(population.begin(), population.end(),
                     [](const Individual& a, const Individual& b) { return a.cost < b.cost; });
  }

  const std::vector<NodeResources>& nodes_;
  const ClusterFormationOptions& options_;
  const int numClusters_;
  Random& random_;
  const std::unique_ptr<LinkTable> links_;
  const bool useCompute_;
  // Scratch space of cost(), kept to avoid allocating in every evaluation.
  mutable std::vector<int> offsets_, fill_, grouped_;
  mutable std::vector<double> compute_, linkSpeed_;
};

void validate(const std::vector<NodeResources>& nodes, const ClusterFormationOptions& options) {
  RAVNEST_CHECK(!nodes.empty(), "formClusters: no nodes given; describe at least one node");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    RAVNEST_CHECK(nodes[i].ramGb > 0.0 && nodes[i].bandwidthMbps > 0.0, "formClusters: node ", i,
                  " needs a positive ram and bandwidth");
  }
  RAVNEST_CHECK(options.modelSizeGb > 0.0, "formClusters: the model size must be positive");
  for (const MeasuredLink& link : options.links) {
    RAVNEST_CHECK(link.a >= 0 && link.b >= 0 && link.a < static_cast<int>(nodes.size()) &&
                      link.b < static_cast<int>(nodes.size()) && link.a != link.b,
                  "formClusters: a link joins nodes ", link.a, " and ", link.b, ", not two of the ", nodes.size(),
                  " nodes");
    RAVNEST_CHECK(link.bandwidthMbps > 0.0 && link.latencyMs >= 0.0, "formClusters: the link between nodes ",
                  link.a, " and ", link.b, " needs a positive bandwidth and a latency of 0 or more");
  }
  RAVNEST_CHECK(!options.numClusters ||
                    (*options.numClusters >= 1 &&
                     *options.numClusters <= static_cast<int>(nodes.size())),
                "formClusters: numClusters must be between 1 and the node count (", nodes.size(),
                ")");
  RAVNEST_CHECK(options.populationSize >= 2 && options.tournamentSize >= 1 &&
                    options.eliteCount >= 0,
                "formClusters: populationSize must be >= 2, tournamentSize >= 1, eliteCount >= 0");
}

ClusterFormationResult toResult(const Individual& best, int numClusters,
                                const std::vector<NodeResources>& nodes, double modelSizeGb) {
  ClusterFormationResult result;
  result.clusters.resize(numClusters);
  std::vector<double> ram(numClusters, 0.0);
  for (std::size_t node = 0; node < best.genes.size(); ++node) {
    result.clusters[best.genes[node]].push_back(static_cast<int>(node));
    ram[best.genes[node]] += nodes[node].ramGb;
  }
  std::sort(result.clusters.begin(), result.clusters.end());
  result.feasible = *std::min_element(ram.begin(), ram.end()) >= modelSizeGb;
  result.fitness = best.cost;
  return result;
}

ClusterFormationResult search(const std::vector<NodeResources>& nodes,
                              const ClusterFormationOptions& options, int numClusters,
                              Random& random) {
  ClusterFormationResult result = toResult(GeneticSearch(nodes, options, numClusters, random).run(), numClusters,
                                           nodes, options.modelSizeGb);
  if (!options.links.empty()) {
    const LinkTable table(nodes, options.links);
    for (auto& cluster : result.clusters) cluster = bestOrder(cluster, table);
    std::sort(result.clusters.begin(), result.clusters.end(), [](const auto& a, const auto& b) {
      return *std::min_element(a.begin(), a.end()) < *std::min_element(b.begin(), b.end());
    });
  }
  return result;
}

}  // namespace

ClusterFormationResult formClusters(const std::vector<NodeResources>& nodes,
                                    const ClusterFormationOptions& options) {
  validate(nodes, options);
  Random random(options.seed);
  if (options.numClusters) {
    return search(nodes, options, *options.numClusters, random);
  }
  double totalRam = 0.0;
  for (const NodeResources& node : nodes) totalRam += node.ramGb;
  const int mostClusters = static_cast<int>(
      std::min<double>(nodes.size(), std::floor(totalRam / options.modelSizeGb)));
  if (mostClusters > kLinearSearchUpTo) {
    // The largest count the greedy assignment (which seeds every search) makes feasible, by bisection: one
    // genetic search instead of one per candidate count.
    int low = 0, high = mostClusters;
    while (low < high) {
      const int k = low + (high - low + 1) / 2;
      if (greedyFeasible(nodes, k, options.modelSizeGb)) {
        low = k;
      } else {
        high = k - 1;
      }
    }
    // The link and compute terms can outweigh a tiny memory deficit, so a search may still come back infeasible:
    // then fewer clusters.
    for (int k = low; k >= 1; --k) {
      ClusterFormationResult result = search(nodes, options, k, random);
      if (result.feasible) return result;
    }
  } else {
    for (int k = mostClusters; k >= 1; --k) {
      ClusterFormationResult result = search(nodes, options, k, random);
      if (result.feasible) return result;
    }
  }
  // Not even all nodes together hold the model: report that single cluster as infeasible.
  return search(nodes, options, 1, random);
}

double linkSpeedMbps(double bandwidthMbps, double latencyMs) {
  if (bandwidthMbps <= 0) return 0.0;
  return kReferenceMessageMbit / (latencyMs / 1e3 + kReferenceMessageMbit / bandwidthMbps);
}

std::vector<int> orderStages(const std::vector<int>& cluster, const std::vector<NodeResources>& nodes,
                             const std::vector<MeasuredLink>& links) {
  for (int node : cluster) {
    RAVNEST_CHECK(node >= 0 && node < static_cast<int>(nodes.size()), "orderStages: node ", node, " is not one of the ",
                  nodes.size(), " nodes");
  }
  return bestOrder(cluster, LinkTable(nodes, links));
}

}  // namespace ravnest
