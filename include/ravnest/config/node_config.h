#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ravnest {

/// "node_<id>": the name a node declares itself by.
inline std::string nodeName(int nodeId) { return "node_" + std::to_string(nodeId); }

/// One node of a cluster, in stage order.
struct ClusterMember {
  int nodeId = 0;
  std::string address;  // host:port

  std::string name() const { return nodeName(nodeId); }
};

/// One node of the job (any cluster), as the node JSON's `job_nodes` lists them.
struct JobMember {
  int nodeId = 0;
  std::string address;  // host:port
  int cluster = 0;
  int stage = 0;

  std::string name() const { return nodeName(nodeId); }
};

/// One all-reduce ring this node belongs to (the node JSON's `rings`): a range of state-dict entries that one
/// node of every cluster holds.
struct RingMembership {
  uint32_t ringId = 0;
  std::vector<std::string> params;  // state-dict names, in flattening order
  std::vector<int64_t> numels;
  std::string nextAddress;      // the holder in cluster rank + 1 (mod ring_size)
  std::string previousAddress;  // the holder in cluster rank - 1; empty in older node JSONs
  int nextNodeId = -1;          // their node ids; -1 when the node JSON does not say
  int previousNodeId = -1;

  /// The name of the holder we receive from; empty when the node JSON does not say.
  std::string previousNodeName() const { return previousNodeId < 0 ? std::string() : nodeName(previousNodeId); }
};

/// What a node reads from node_data/nodes/node_<id>.json (see docs/node_data.md): where it listens, where its
/// stage lives, its place in its cluster.
struct NodeConfig {
  int nodeId = 0;
  std::string localHost;
  int localPort = 0;
  std::string templatePath;  // stage folder, with a trailing '/'
  int rank = 0;              // cluster id
  int ringSize = 1;          // number of clusters
  int clusterLength = 1;     // nodes in this cluster
  bool isRoot = false;
  bool isLeaf = false;
  int stageIndex = 0;
  std::vector<ClusterMember> clusterNodes;  // stage k is entry k
  std::vector<RingMembership> rings;        // empty in node JSONs written before rings existed
  /// Every node of the job, this one included; in node JSONs written before `job_nodes` existed, the nodes of
  /// this cluster.
  std::vector<JobMember> jobNodes;
  bool jobNodesListed = false;  // whether the node JSON has job_nodes (else jobNodes is this cluster)
  std::string jobToken;  // the job's shared secret (job_token); empty in node JSONs written before tokens
  std::string submoduleFile = "submod.pt";
  std::string routingFile = "routing.json";

  std::string name() const { return nodeName(nodeId); }
  std::string listenAddress() const { return localHost + ":" + std::to_string(localPort); }
  std::string submodulePath() const { return templatePath + submoduleFile; }
  std::string routingPath() const { return templatePath + routingFile; }
};

/// Reads and validates a node JSON file. `template_path` stays relative to the working directory, as
/// clusterize wrote it. Throws ConfigError naming the file and the key when the file is missing, is not
/// JSON, or lacks a key or has one of the wrong type.
NodeConfig loadNodeConfig(const std::string& path);

}  // namespace ravnest
