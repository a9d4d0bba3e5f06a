#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "comm/message_encoding.h"
#include "comm/stream/stream_socket.h"

namespace ravnest::detail {

/// The sending end of a message connection (stream_wire.h): one node's pipeline messages to one peer, in the
/// order written. Each message leaves in one gather write, straight from its encoded tensors' memory. A write
/// returns once the bytes are in the kernel's buffer; sync() confirms that the receiver took every message
/// so far. Not thread-safe: its owner serializes the calls.
class MessageStreamSender {
 public:
  /// Connects to `host`:`port` and introduces `self` with the job `token`. Throws NetworkError or TimeoutError
  /// when no connection opens by `deadline`, AuthenticationError for a refused token.
  MessageStreamSender(const std::string& self, const std::string& host, int port, const std::string& token,
                      SteadyTime deadline);

  /// Writes one message frame and returns its wire bytes. Throws ProtocolError with the receiver's reason when it
  /// had rejected an earlier message and closed the connection; NetworkError or TimeoutError otherwise.
  uint64_t write(const EncodedMessage& message, SteadyTime deadline);
  /// Waits until every message written so far is in the receiver's inbox. Throws like write().
  void sync(SteadyTime deadline);

 private:
  /// After a failed write: throws the receiver's refusal when it left one, else rethrows the failure.
  [[noreturn]] void throwWhy(const std::exception_ptr& failure);

  std::unique_ptr<StreamSocket> socket_;
};

}  // namespace ravnest::detail
