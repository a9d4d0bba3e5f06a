#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "ravnest/comm/inbox.h"

namespace ravnest::detail {

/// A thread that moves messages from one inbox to the node's scheduler, so that the compute thread waits on
/// one queue instead of several inboxes. `deliver` may block (that is the back-pressure); it returns false
/// when the message could not be handed over yet and must be offered again. Starts in the constructor;
/// stop() (or the destructor) ends and joins it.
class InboxPump {
 public:
  using Deliver = std::function<bool(Message&)>;

  InboxPump(std::string name, Inbox& inbox, Deliver deliver);
  ~InboxPump();
  InboxPump(const InboxPump&) = delete;
  InboxPump& operator=(const InboxPump&) = delete;

  /// Closes the inbox (the node takes no more messages of its kind) and ends the thread after the message it
  /// is handing over, if any. Idempotent; not from the pump's thread.
  void stop();

 private:
  void runOnPumpThread();

  std::string name_;
  Inbox& inbox_;
  Deliver deliver_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ravnest::detail
