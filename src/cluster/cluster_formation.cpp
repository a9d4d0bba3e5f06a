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
// - With K left free, K runs from the largest count the total RAM allows down to 1, and the first K
//   whose best individual is feasible is returned.
// - Randomness comes from std::mt19937_64 (its sequence is fixed by the C++ standard) with our own
//   range mapping, so one seed gives one result on every platform.

#include "ravnest/cluster/cluster_formation.h"

#include "ravnest/common/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace ravnest {
namespace {

constexpr double kMemoryPenalty = 1000.0;

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

struct Individual {
  Assignment genes;
  double cost = 0.0;
};

class GeneticSearch {
 public:
  GeneticSearch(const std::vector<NodeResources>& nodes, const ClusterFormationOptions& options,
                int numClusters, Random& random)
      : nodes_(nodes), options_(options), numClusters_(numClusters), random_(random) {}

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
    const double mean = std::accumulate(speed.begin(), speed.end(), 0.0) / k;
    double variance = 0.0;
    for (double s : speed) variance += (s - mean) * (s - mean);
    return kMemoryPenalty * deficit + std::sqrt(variance / k) / mean;
  }

 private:
  std::vector<Individual> firstGeneration() {
    std::vector<Individual> population;
    population.push_back(evaluated(greedyAssignment()));
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

  Assignment greedyAssignment() const {
    std::vector<int> byRam(nodes_.size());
    std::iota(byRam.begin(), byRam.end(), 0);
    std::stable_sort(byRam.begin(), byRam.end(),
                     [&](int a, int b) { return nodes_[a].ramGb > nodes_[b].ramGb; });
    std::vector<double> ram(numClusters_, 0.0);
    Assignment genes(nodes_.size());
    for (int node : byRam) {
      const int poorest = std::min_element(ram.begin(), ram.end()) - ram.begin();
      genes[node] = poorest;
      ram[poorest] += nodes_[node].ramGb;
    }
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
};

void validate(const std::vector<NodeResources>& nodes, const ClusterFormationOptions& options) {
  RAVNEST_CHECK(!nodes.empty(), "formClusters: no nodes given; describe at least one node");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    RAVNEST_CHECK(nodes[i].ramGb > 0.0 && nodes[i].bandwidthMbps > 0.0, "formClusters: node ", i,
                  " needs a positive ram and bandwidth");
  }
  RAVNEST_CHECK(options.modelSizeGb > 0.0, "formClusters: the model size must be positive");
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
  return toResult(GeneticSearch(nodes, options, numClusters, random).run(), numClusters, nodes,
                  options.modelSizeGb);
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
  for (int k = mostClusters; k >= 1; --k) {
    ClusterFormationResult result = search(nodes, options, k, random);
    if (result.feasible) return result;
  }
  // Not even all nodes together hold the model: report that single cluster as infeasible.
  return search(nodes, options, 1, random);
}

}  // namespace ravnest
