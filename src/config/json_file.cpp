#include "config/json_file.h"

#include <fstream>
#include <vector>

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

// nlohmann::json copies, compares and prints nested values recursively: a hostile file nested a hundred
// thousand levels deep would overflow the stack. node_data/ files nest a few levels.
constexpr int kMaxJsonDepth = 64;

}  // namespace

nlohmann::json readJsonFile(const std::string& path) {
  std::ifstream file(path);
  RAVNEST_CHECK_AS(ConfigError, file.good(), "cannot read '", path,
                   "': run clusterize first, from the folder that holds node_data/");
  const auto limitDepth = [&path](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    RAVNEST_CHECK_AS(ConfigError, depth <= kMaxJsonDepth, "'", path, "' nests deeper than ", kMaxJsonDepth,
                     " levels");
    return true;
  };
  try {
    return nlohmann::json::parse(file, limitDepth);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError("'" + path + "' is not valid JSON: " + e.what());
  }
}

template <typename T>
T requireKey(const nlohmann::json& object, const std::string& key, const std::string& path) {
  RAVNEST_CHECK_AS(ConfigError, object.is_object() && object.contains(key), "'", path, "' lacks the key '",
                   key, "': regenerate it with clusterize");
  try {
    return object.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError("'" + path + "', key '" + key + "': " + e.what());
  }
}

template bool requireKey<bool>(const nlohmann::json&, const std::string&, const std::string&);
template int requireKey<int>(const nlohmann::json&, const std::string&, const std::string&);
template std::string requireKey<std::string>(const nlohmann::json&, const std::string&, const std::string&);
template uint32_t requireKey<uint32_t>(const nlohmann::json&, const std::string&, const std::string&);
template std::vector<std::string> requireKey<std::vector<std::string>>(const nlohmann::json&, const std::string&,
                                                                       const std::string&);
template std::vector<int64_t> requireKey<std::vector<int64_t>>(const nlohmann::json&, const std::string&,
                                                               const std::string&);
template nlohmann::json requireKey<nlohmann::json>(const nlohmann::json&, const std::string&,
                                                   const std::string&);

}  // namespace ravnest::detail
