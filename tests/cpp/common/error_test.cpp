#include <gtest/gtest.h>

#include "ravnest/common/error.h"

namespace ravnest {
namespace {

TEST(ErrorTest, CheckThrowsInvalidArgumentWithMessageAndLocation) {
  try {
    RAVNEST_CHECK(1 + 1 == 3, "arithmetic is off by ", 1);
    FAIL() << "RAVNEST_CHECK did not throw";
  } catch (const InvalidArgumentError& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("arithmetic is off by 1"), std::string::npos) << what;
    EXPECT_NE(what.find("error_test.cpp"), std::string::npos) << what;
  }
}

TEST(ErrorTest, CheckPassesSilentlyWhenConditionHolds) {
  EXPECT_NO_THROW(RAVNEST_CHECK(true, "never shown"));
}

TEST(ErrorTest, TimeoutIsANetworkErrorAndEveryErrorIsAnError) {
  EXPECT_THROW(throw TimeoutError("late"), NetworkError);
  EXPECT_THROW(RAVNEST_CHECK_AS(ProtocolError, false, "bad"), Error);
}

}  // namespace
}  // namespace ravnest
