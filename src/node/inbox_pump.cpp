#include "node/inbox_pump.h"

#include <chrono>

#include "ravnest/common/logging.h"

namespace ravnest::detail {
namespace {

// How often a waiting pump looks at its stop flag.
constexpr std::chrono::milliseconds kStopCheck{200};

}  // namespace

InboxPump::InboxPump(std::string name, Inbox& inbox, Deliver deliver)
    : name_(std::move(name)), inbox_(inbox), deliver_(std::move(deliver)), thread_([this] { runOnPumpThread(); }) {}

InboxPump::~InboxPump() { stop(); }

void InboxPump::stop() {
  stopping_ = true;
  // Closing wakes the pump at once instead of at its next stop check; the node takes no more messages now.
  inbox_.close();
  if (thread_.joinable()) thread_.join();
}

void InboxPump::runOnPumpThread() {
  while (!stopping_) {
    auto message = inbox_.pop(kStopCheck);
    if (!message) continue;
    while (!stopping_ && !deliver_(*message)) {
    }
  }
  logger(name_)->debug("inbox pump stopped");
}

}  // namespace ravnest::detail
