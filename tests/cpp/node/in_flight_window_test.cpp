#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "node/in_flight_window.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

using std::chrono::milliseconds;

std::string timeoutMessageOf(InFlightWindow& window) {
  try {
    window.acquire(milliseconds(20));
  } catch (const TimeoutError& error) {
    return error.what();
  }
  ADD_FAILURE() << "acquire did not time out";
  return {};
}

TEST(InFlightWindowTest, ATimeoutNamesTheNodeTheBackwardPassesComeFrom) {
  InFlightWindow window("node_0", 1, "node_1 (127.0.0.1:5001)");
  window.acquire(milliseconds(20));
  const std::string message = timeoutMessageOf(window);
  EXPECT_NE(message.find("node_0: no backward pass came back from node_1 (127.0.0.1:5001)"), std::string::npos)
      << message;
  try {
    window.waitUntilEmpty(milliseconds(20));
    ADD_FAILURE() << "waitUntilEmpty did not time out";
  } catch (const TimeoutError& error) {
    EXPECT_NE(std::string(error.what()).find("1 backward passes still missing from node_1 (127.0.0.1:5001)"),
              std::string::npos)
        << error.what();
  }
}

TEST(InFlightWindowTest, AReleasedSlotCanBeTakenAgainAndAFailureWakesTheWaiter) {
  InFlightWindow window("node_0", 1, "");
  window.acquire(milliseconds(20));
  window.release();
  window.acquire(milliseconds(20));
  window.fail(std::make_exception_ptr(NetworkError("node_1 went away")));
  EXPECT_THROW(window.acquire(milliseconds(2000)), NetworkError);
}

}  // namespace
}  // namespace ravnest::detail
