#include <gtest/gtest.h>

#include "ravnest/common/error.h"
#include "ravnest/common/logging.h"

namespace ravnest {
namespace {

TEST(LoggingTest, QuietByDefaultAndLevelChangesApplyToExistingLoggers) {
  auto log = logger("node_7");
  EXPECT_EQ(log->name(), "ravnest:node_7");
  if (std::getenv("RAVNEST_LOG_LEVEL") == nullptr) {
    EXPECT_EQ(logLevel(), "warning");
    EXPECT_FALSE(log->should_log(spdlog::level::info));
  }
  setLogLevel("debug");
  EXPECT_TRUE(log->should_log(spdlog::level::debug));
  EXPECT_TRUE(logger("node_8")->should_log(spdlog::level::debug));
  setLogLevel("warn");
  EXPECT_FALSE(log->should_log(spdlog::level::info));
}

TEST(LoggingTest, UnknownLevelIsRejectedWithTheChoices) {
  try {
    setLogLevel("loud");
    FAIL() << "no error for an unknown level";
  } catch (const InvalidArgumentError& error) {
    EXPECT_NE(std::string(error.what()).find("trace, debug, info"), std::string::npos);
  }
}

}  // namespace
}  // namespace ravnest
