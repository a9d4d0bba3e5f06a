#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ravnest::detail {

/// Parses the JSON file at `path`. Throws ConfigError naming the file when it cannot be read or parsed.
nlohmann::json readJsonFile(const std::string& path);

/// `object[key]` converted to T. Throws ConfigError naming `path`, the key and the expected type when the
/// key is missing or holds another type.
template <typename T>
T requireKey(const nlohmann::json& object, const std::string& key, const std::string& path);

}  // namespace ravnest::detail
