#include "comm/stream/message_stream_receiver.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <future>

#include "comm/message_encoding.h"
#include "comm/payload_assembler.h"
#include "comm/stream/stream_wire.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

/// Message connections one node serves at once; more are refused. A job's node has a few neighbours.
constexpr size_t kMostConnections = 64;
/// How long a refused connection is drained before it closes, so that the refusal reaches its sender before
/// the reset that closing a socket with unread bytes sends.
constexpr std::chrono::milliseconds kDrainAfterRefusal{500};

SteadyTime after(std::chrono::milliseconds wait) { return std::chrono::steady_clock::now() + wait; }

/// Waits for a slot in `inbox`; false when the inbox closed first.
bool reserveSlot(Inbox& inbox) {
  // Shared with the callback: it may run on the thread that frees a slot, after this one stopped waiting.
  auto granted = std::make_shared<std::promise<bool>>();
  std::future<bool> answer = granted->get_future();
  inbox.reserve([granted](bool ok) { granted->set_value(ok); });
  return answer.get();
}

/// A reserved inbox slot, given back unless the message was committed.
class SlotHold {
 public:
  explicit SlotHold(Inbox& inbox) : inbox_(inbox) {}
  ~SlotHold() {
    if (held_) inbox_.release();
  }
  SlotHold(const SlotHold&) = delete;
  SlotHold& operator=(const SlotHold&) = delete;
  void commit(Message message) {
    inbox_.commit(std::move(message));
    held_ = false;
  }

 private:
  Inbox& inbox_;
  bool held_ = true;
};

}  // namespace

MessageStreamReceiver::MessageStreamReceiver(ServerState& state) : state_(state) {}

MessageStreamReceiver::~MessageStreamReceiver() { close(); }

std::string MessageStreamReceiver::serve(std::shared_ptr<StreamSocket> socket, std::string sender) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closing_) return "node " + state_.node + " is shutting down";
  reapEndedLocked();
  if (connections_.size() >= kMostConnections) {
    return "node " + state_.node + " already serves " + std::to_string(kMostConnections) + " message connections";
  }
  auto& connection = *connections_.emplace_back(std::make_unique<Connection>());
  connection.socket = std::move(socket);
  connection.sender = std::move(sender);
  connection.thread = std::thread([this, &connection] { runOnConnectionThread(connection); });
  return {};
}

void MessageStreamReceiver::close() {
  std::list<std::unique_ptr<Connection>> ending;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    ending.swap(connections_);
  }
  for (auto& connection : ending) connection->socket->shutdown();
  for (auto& connection : ending) connection->thread.join();
}

void MessageStreamReceiver::reapEndedLocked() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (!(*it)->ended) {
      ++it;
      continue;
    }
    (*it)->thread.join();
    it = connections_.erase(it);
  }
}

void MessageStreamReceiver::runOnConnectionThread(Connection& connection) {
  StreamSocket& socket = *connection.socket;
  writeVerdict(socket, "", after(state_.options.deadline));
  try {
    readFrames(socket, connection.sender);
  } catch (const PermissionError& error) {
    refuse(socket, error.what(), true);
  } catch (const ProtocolError& error) {
    refuse(socket, error.what(), false);
  } catch (const std::bad_alloc&) {
    refuse(socket, "message payload: cannot hold it (out of memory)", false);
  } catch (const NetworkError& error) {
    // The sender went away or stalled in the middle of a message, whose part is dropped; or the server is
    // shutting down, which ends every connection this way.
    if (!closing_) {
      state_.log->warn("the message connection from {} ({}) ended in the middle of a message, which was dropped: {}",
                       connection.sender, socket.peer(), error.what());
    }
  }
  socket.shutdown();
  connection.ended = true;
}

void MessageStreamReceiver::readFrames(StreamSocket& socket, const std::string& sender) {
  for (;;) {
    std::array<uint8_t, kFramePrefixBytes> prefix;
    // Between messages a connection may stay quiet for as long as the pipeline has nothing to send. Ending
    // here, by the sender closing or resetting it or by shutdown, loses nothing.
    try {
      if (!socket.readAllOrEnd(prefix.data(), prefix.size(), SteadyTime::max(), "a frame")) return;
    } catch (const TimeoutError&) {
      throw;
    } catch (const NetworkError& error) {
      state_.log->debug("the message connection from {} ({}) ended: {}", sender, socket.peer(), error.what());
      return;
    }
    const auto [kind, length] = decodeFramePrefix(prefix);
    if (kind == FrameKind::kSync) {
      writeSyncAnswer(socket, after(state_.options.deadline));
      continue;
    }
    readMessage(socket, sender, length);
  }
}

void MessageStreamReceiver::readMessage(StreamSocket& socket, const std::string& sender, uint32_t headerBytes) {
  RAVNEST_CHECK_AS(ProtocolError, headerBytes <= kMaxHeaderBytes, "message header: declares ", headerBytes,
                   " bytes, more than the ", kMaxHeaderBytes, " a MessageHeader may have");
  const std::string what = "a message from " + sender;
  std::string serialized(headerBytes, '\0');
  socket.readAll(serialized.data(), serialized.size(), after(state_.options.deadline), what);
  wire::MessageHeader header;
  RAVNEST_CHECK_AS(ProtocolError, header.ParseFromString(serialized), "message header: not a valid MessageHeader");
  PayloadAssembler assembler(header, state_.options);
  RAVNEST_CHECK_AS(PermissionError, header.sender() == sender, "a message claims to come from '", header.sender(),
                   "' on the connection of ", sender);
  RAVNEST_CHECK_AS(ProtocolError, assembler.kind() != MessageKind::kRingChunk,
                   "ring chunks travel on ring connections, not on a message connection");
  Inbox& inbox = state_.inbox(assembler.kind());
  RAVNEST_CHECK_AS(NetworkError, reserveSlot(inbox), "node ", state_.node, " is shutting down");
  SlotHold slot(inbox);
  const auto piece = static_cast<size_t>(state_.options.chunkBytes);
  while (!assembler.complete()) {
    const auto [buffer, room] = assembler.nextBuffer();
    const size_t size = std::min(room, piece);
    socket.readAll(buffer, size, after(state_.options.deadline), what);
    assembler.arrived(size);
  }
  Message message = assembler.finish();
  if (!state_.admit(message, assembler.nonFiniteTensor())) return;
  // Counted before it can be popped, so that a consumer that holds the message sees it counted.
  if (state_.options.traffic && countsAsTraffic(message.kind)) {
    state_.options.traffic->receivedFrom.add(
        sender, kFramePrefixBytes + headerBytes + static_cast<uint64_t>(assembler.expectedBytes()));
  }
  slot.commit(std::move(message));
}

void MessageStreamReceiver::refuse(StreamSocket& socket, const std::string& reason, bool permission) {
  ++state_.rejectedMessages;
  state_.log->error("rejected a message from {}: {}", socket.peer(), reason);
  writeVerdict(socket, reason, after(kDrainAfterRefusal), permission);
  socket.closeWriting();
  std::array<uint8_t, 64 << 10> discard;
  const SteadyTime until = after(kDrainAfterRefusal);
  while (std::chrono::steady_clock::now() < until && socket.readSome(discard.data(), discard.size(), until) > 0) {
  }
}

}  // namespace ravnest::detail
