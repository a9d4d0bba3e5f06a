#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "node/peer_links.h"
#include "ravnest/comm/message.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// Sends a node's pipeline messages to one peer on a thread of its own, in the order they were posted, so
/// that the compute thread never waits for the network, and encoding (the codec) happens off it. The first
/// failure stops the outbox; the compute thread finds it at its next post() or in close(). Thread-safe.
class Outbox {
 public:
  Outbox(PeerLinks& links, int stage);
  /// Drops what is still queued, then joins (waiting for the send in progress, if any).
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  /// Queues `message`. Throws the failure of an earlier send.
  void post(Message message, CodecKind codec);
  /// Sends everything queued, then ends the thread. Throws the failure of a send. Idempotent.
  void close();

 private:
  struct Item {
    Message message;
    CodecKind codec;
  };

  void runOnSendThread();
  void throwIfFailedLocked() const;

  PeerLinks& links_;
  const int stage_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  bool closing_ = false;
  bool sending_ = false;
  std::exception_ptr failure_;
  std::thread thread_;
};

}  // namespace ravnest::detail
