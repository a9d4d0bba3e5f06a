#pragma once

#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace ravnest {

/// Returns the logger of one node (or component), creating it on first use. Every line it writes names
/// `node`. Thread-safe.
std::shared_ptr<spdlog::logger> logger(const std::string& node);

/// Sets the level of every ravnest logger, present and future: "trace", "debug", "info", "warn", "error",
/// "critical" or "off". The default is "warn", or the value of RAVNEST_LOG_LEVEL when it is set.
/// Throws InvalidArgumentError for an unknown level name. Thread-safe.
void setLogLevel(const std::string& level);

/// The current level's name.
std::string logLevel();

}  // namespace ravnest
