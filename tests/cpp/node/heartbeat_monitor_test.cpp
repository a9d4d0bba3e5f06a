#include "node/heartbeat_monitor.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "comm/test_peers.h"
#include "node/failure.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kInterval{100};
constexpr milliseconds kGrace{1000};

/// Node 0 watching node 1, a real peer process; records what the monitor reports.
class HeartbeatMonitorTest : public ::testing::Test {
 protected:
  HeartbeatMonitorTest() {
    config_.nodeId = 0;
    config_.clusterNodes = {{0, "127.0.0.1:1"}, {1, peer_.address()}};
    monitor_ = std::make_unique<HeartbeatMonitor>(config_, std::set<int>{1}, TransportOptions{}, kInterval, kGrace,
                                                  [this](std::exception_ptr lost) {
                                                    std::lock_guard<std::mutex> lock(mutex_);
                                                    lost_ = std::move(lost);
                                                    reported_.notify_all();
                                                  });
  }
  ~HeartbeatMonitorTest() override { monitor_->stop(); }

  /// The report, or nullptr when none came within `timeout`.
  std::exception_ptr waitForReport(milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    reported_.wait_for(lock, timeout, [&] { return lost_ != nullptr; });
    return lost_;
  }

  /// Starts the monitor and lets it see the peer answer.
  void startAndWatch() {
    monitor_->start();
    ASSERT_EQ(waitForReport(kInterval * 3), nullptr);
  }

  testing::ChildPeer peer_;
  NodeConfig config_;
  std::mutex mutex_;
  std::condition_variable reported_;
  std::exception_ptr lost_;
  std::unique_ptr<HeartbeatMonitor> monitor_;
};

// The longest a report may take after the peer went silent: the grace period, the last ping's deadline (a
// quarter of it) and an interval, with room for a busy machine.
constexpr milliseconds kReportDeadline = kGrace + kGrace / 4 + kInterval + milliseconds(1500);

TEST_F(HeartbeatMonitorTest, AKilledNeighbourIsReportedAsANetworkErrorNamingIt) {
  startAndWatch();
  peer_.signal(SIGKILL);
  const auto lost = waitForReport(kReportDeadline);
  ASSERT_NE(lost, nullptr);
  EXPECT_EQ(failureTypeOf(lost), FailureType::kNetwork);
  const std::string message = failureMessageOf(lost);
  EXPECT_NE(message.find("node_0: lost node_1 (" + peer_.address() + ")"), std::string::npos) << message;
  EXPECT_NE(message.find("answered no heartbeat"), std::string::npos) << message;
}

TEST_F(HeartbeatMonitorTest, AFrozenNeighbourIsReportedAsATimeoutError) {
  startAndWatch();
  peer_.signal(SIGSTOP);
  const auto lost = waitForReport(kReportDeadline);
  peer_.signal(SIGKILL);
  ASSERT_NE(lost, nullptr);
  EXPECT_EQ(failureTypeOf(lost), FailureType::kTimeout) << failureMessageOf(lost);
}

TEST_F(HeartbeatMonitorTest, ANeighbourThatSaidFarewellMayGoAway) {
  startAndWatch();
  monitor_->forget("node_1");
  peer_.signal(SIGKILL);
  EXPECT_EQ(waitForReport(kReportDeadline), nullptr);
}

TEST_F(HeartbeatMonitorTest, ANeighbourThatNeverAnsweredIsLeftToTheStartUpWait) {
  peer_.signal(SIGKILL);
  monitor_->start();
  EXPECT_EQ(waitForReport(kReportDeadline), nullptr);
}

TEST_F(HeartbeatMonitorTest, ANeighbourFrozenBeforeItsFirstAnswerIsReportedOnceThePeersStarted) {
  // Frozen before any ping reached it: only the start-up wait's word that it runs makes it judged.
  peer_.signal(SIGSTOP);
  monitor_->start();
  monitor_->peersStarted();
  const auto lost = waitForReport(kReportDeadline);
  peer_.signal(SIGKILL);
  ASSERT_NE(lost, nullptr);
  EXPECT_EQ(failureTypeOf(lost), FailureType::kTimeout) << failureMessageOf(lost);
}

}  // namespace
}  // namespace ravnest::detail
