#include "ravnest/config/node_config.h"

#include "config/json_file.h"
#include "config/ring_plan.h"
#include "ravnest/common/error.h"

namespace ravnest {

using detail::requireKey;

NodeConfig loadNodeConfig(const std::string& path) try {
  const nlohmann::json document = detail::readJsonFile(path);
  NodeConfig config;
  config.nodeId = requireKey<int>(document, "node_id", path);
  config.localHost = requireKey<std::string>(document, "local_host", path);
  config.localPort = requireKey<int>(document, "local_port", path);
  config.templatePath = requireKey<std::string>(document, "template_path", path);
  if (!config.templatePath.empty() && config.templatePath.back() != '/') config.templatePath += '/';
  config.rank = requireKey<int>(document, "rank", path);
  config.ringSize = requireKey<int>(document, "ring_size", path);
  config.clusterLength = requireKey<int>(document, "cluster_length", path);
  config.isRoot = requireKey<bool>(document, "is_root", path);
  config.isLeaf = requireKey<bool>(document, "is_leaf", path);
  config.stageIndex = requireKey<int>(document, "stage_index", path);
  for (const auto& member : requireKey<nlohmann::json>(document, "cluster_nodes", path)) {
    config.clusterNodes.push_back(
        {requireKey<int>(member, "node_id", path), requireKey<std::string>(member, "address", path)});
  }
  for (const auto& ring : document.value("rings", nlohmann::json::array())) {
    const auto next = requireKey<nlohmann::json>(ring, "next", path);
    const auto previous = ring.value("previous", nlohmann::json::object());
    config.rings.push_back({requireKey<uint32_t>(ring, "ring_id", path),
                            requireKey<std::vector<std::string>>(ring, "params", path),
                            requireKey<std::vector<int64_t>>(ring, "numels", path),
                            requireKey<std::string>(next, "address", path),
                            previous.value("address", std::string()), next.value("node_id", -1),
                            previous.value("node_id", -1)});
  }
  for (const auto& member : document.value("job_nodes", nlohmann::json::array())) {
    config.jobNodes.push_back({requireKey<int>(member, "node_id", path), requireKey<std::string>(member, "address", path),
                               requireKey<int>(member, "cluster", path), requireKey<int>(member, "stage", path)});
  }
  config.jobNodesListed = !config.jobNodes.empty();
  if (config.jobNodes.empty()) {
    for (size_t stage = 0; stage < config.clusterNodes.size(); ++stage) {
      const ClusterMember& member = config.clusterNodes[stage];
      config.jobNodes.push_back({member.nodeId, member.address, config.rank, static_cast<int>(stage)});
    }
  }
  config.jobToken = document.value("job_token", std::string());
  config.submoduleFile = document.value("submodule_file", config.submoduleFile);
  config.routingFile = document.value("routing_file", config.routingFile);

  RAVNEST_CHECK_AS(ConfigError, static_cast<int>(config.clusterNodes.size()) == config.clusterLength, "'", path,
                   "': cluster_nodes lists ", config.clusterNodes.size(), " nodes but cluster_length is ",
                   config.clusterLength);
  RAVNEST_CHECK_AS(ConfigError, config.stageIndex >= 0 && config.stageIndex < config.clusterLength, "'", path,
                   "': stage_index ", config.stageIndex, " is outside the cluster of ", config.clusterLength);
  RAVNEST_CHECK_AS(ConfigError, config.isRoot == (config.stageIndex == 0), "'", path,
                   "': is_root disagrees with stage_index ", config.stageIndex);
  RAVNEST_CHECK_AS(ConfigError, config.isLeaf == (config.stageIndex == config.clusterLength - 1), "'", path,
                   "': is_leaf disagrees with stage_index ", config.stageIndex);
  detail::validateRingPlan(config, path);
  return config;
} catch (const nlohmann::json::exception& e) {
  // A value of the wrong type deep inside the file: name the file, as every other config error does.
  throw ConfigError("'" + path + "' is malformed (" + e.what() + "): regenerate it with clusterize");
}

}  // namespace ravnest
