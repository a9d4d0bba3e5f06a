#pragma once

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "comm/server_state.h"
#include "comm/stream/stream_socket.h"

namespace ravnest::detail {

/// The receiving ends of a node's message connections: one thread per connection reads its frames in order,
/// straight into the buffers of the message's tensors, and puts each message into its inbox after the same
/// checks as the gRPC path (header limits, NaN/Inf, the kind's validator). Before reading a message's payload
/// the thread waits for a slot in the inbox, so a full inbox stops the reading and TCP stops the sender: that
/// is the back-pressure. A message that fails a check ends the connection with a refusal its sender reports.
/// The frames of one connection enter the inboxes in the order they were written.
class MessageStreamReceiver {
 public:
  explicit MessageStreamReceiver(ServerState& state);
  /// Calls close().
  ~MessageStreamReceiver();
  MessageStreamReceiver(const MessageStreamReceiver&) = delete;
  MessageStreamReceiver& operator=(const MessageStreamReceiver&) = delete;

  /// Takes over `socket`, whose hello introduced `sender` and passed the token check: accepts it and starts its
  /// thread. Returns why it cannot (too many connections, or closed), or "" when it took it.
  std::string serve(std::shared_ptr<StreamSocket> socket, std::string sender);

  /// Ends every connection and joins their threads. The server closes its inboxes first, so that no thread
  /// still waits for a slot. Idempotent.
  void close();

 private:
  struct Connection {
    std::shared_ptr<StreamSocket> socket;
    std::string sender;
    std::thread thread;
    std::atomic<bool> ended{false};
  };

  void runOnConnectionThread(Connection& connection);
  /// Reads frames until the sender closes the connection. Throws what ends it otherwise.
  void readFrames(StreamSocket& socket, const std::string& sender);
  /// Reads one message of `headerBytes` header bytes and puts it into its inbox (or drops it under
  /// NonFinitePolicy::kSkip). Throws ProtocolError (PermissionError) to reject it.
  void readMessage(StreamSocket& socket, const std::string& sender, uint32_t headerBytes);
  /// Tells the sender why its message was rejected and ends the connection.
  void refuse(StreamSocket& socket, const std::string& reason, bool permission);
  /// Joins the threads of connections that ended. Holds mutex_.
  void reapEndedLocked();

  ServerState& state_;
  std::mutex mutex_;
  std::list<std::unique_ptr<Connection>> connections_;
  std::atomic<bool> closing_{false};  // set under mutex_; read without it by the connection threads' logs
};

}  // namespace ravnest::detail
