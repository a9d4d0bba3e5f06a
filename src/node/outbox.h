#pragma once

#include "common/send_queue.h"
#include "node/device_copies.h"
#include "node/peer_links.h"
#include "ravnest/comm/message.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// Sends a node's pipeline messages to one peer on a thread of its own, in the order they were posted, so
/// that the compute thread never waits for the network, and the copy to host memory and the encoding (the
/// codec) happen off it. The first failure stops the outbox; the compute thread finds it at its next post()
/// or in close(). Thread-safe.
class Outbox {
 public:
  Outbox(PeerLinks& links, const DeviceCopies& copies, int stage);

  /// Compute thread: queues `message`. Throws the failure of an earlier send.
  void post(Message message, CodecKind codec);
  /// Waits until everything queued was sent and is in the peer's inbox. Throws the failure of a send, or the
  /// peer's rejection of one.
  void close();

 private:
  struct Item {
    Message message;
    CodecKind codec;
    DeviceCopies::ReadyMark ready;
  };

  PeerLinks& links_;
  const DeviceCopies& copies_;
  const int stage_;
  SendQueue<Item> queue_;  // last: its thread uses the members above
};

}  // namespace ravnest::detail
