#include "ravnest/common/logging.h"

#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "ravnest/common/error.h"

namespace ravnest {
namespace {

constexpr const char* kPattern = "[%Y-%m-%d %H:%M:%S.%e] [%n] [%^%l%$] %v";
constexpr const char* kLevelVariable = "RAVNEST_LOG_LEVEL";

spdlog::level::level_enum parseLevel(const std::string& name) {
  const auto level = spdlog::level::from_str(name);
  // from_str answers `off` for names it does not know, so `off` must have been asked for by name.
  RAVNEST_CHECK(level != spdlog::level::off || name == "off",
                "unknown log level '", name, "': use trace, debug, info, warn, error, critical or off");
  return level;
}

struct LoggingState {
  std::mutex mutex;
  spdlog::level::level_enum level = spdlog::level::warn;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();

  LoggingState() {
    if (const char* fromEnvironment = std::getenv(kLevelVariable)) {
      try {
        level = parseLevel(fromEnvironment);
      } catch (const InvalidArgumentError&) {
        level = spdlog::level::warn;
      }
    }
  }
};

LoggingState& state() {
  static LoggingState instance;
  return instance;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& node) {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const std::string name = "ravnest:" + node;
  if (auto existing = spdlog::get(name)) {
    return existing;
  }
  auto created = std::make_shared<spdlog::logger>(name, s.sink);
  created->set_pattern(kPattern);
  created->set_level(s.level);
  spdlog::register_logger(created);
  return created;
}

void setLogLevel(const std::string& level) {
  const auto parsed = parseLevel(level);
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.level = parsed;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& each) {
    if (each->name().rfind("ravnest:", 0) == 0) {
      each->set_level(parsed);
    }
  });
}

std::string logLevel() {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const auto view = spdlog::level::to_string_view(s.level);
  return std::string(view.data(), view.size());
}

}  // namespace ravnest
