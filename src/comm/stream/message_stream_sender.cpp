#include "comm/stream/message_stream_sender.h"

#include <chrono>
#include <exception>
#include <vector>

#include "comm/stream/stream_wire.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

/// How long a sender whose write failed waits for the reason the receiver wrote before it closed.
constexpr std::chrono::milliseconds kRefusalWait{500};

}  // namespace

MessageStreamSender::MessageStreamSender(const std::string& self, const std::string& host, int port,
                                         const std::string& token, SteadyTime deadline)
    : socket_(StreamSocket::connect(host, port, deadline)) {
  introduce(*socket_, StreamHello{StreamChannel::kMessages, 0, token, self}, deadline);
}

uint64_t MessageStreamSender::write(const EncodedMessage& message, SteadyTime deadline) {
  RAVNEST_CHECK(message.header.size() <= static_cast<size_t>(kMaxHeaderBytes), "a message header of ",
                message.header.size(), " bytes is longer than the ", kMaxHeaderBytes, " a receiver accepts");
  const auto prefix = encodeFramePrefix(FrameKind::kMessage, static_cast<uint32_t>(message.header.size()));
  std::vector<iovec> parts;
  parts.reserve(2 + message.payloads.size());
  parts.push_back({const_cast<uint8_t*>(prefix.data()), prefix.size()});
  parts.push_back({const_cast<char*>(message.header.data()), message.header.size()});
  for (const auto& payload : message.payloads) {
    if (payload.numel() > 0) parts.push_back({payload.data_ptr(), static_cast<size_t>(payload.numel())});
  }
  try {
    // The receiver writes nothing unasked but a refusal before it closes; a peer that died has closed too. Both
    // are seen here, before the message goes into a buffer nobody reads.
    RAVNEST_CHECK_AS(NetworkError, !socket_->peerSpokeOrClosed(), "a message to ", socket_->peer(),
                     ": the peer closed the connection (did it stop or fail?)");
    socket_->writeAll(parts.data(), static_cast<int>(parts.size()), deadline, "a message");
  } catch (const TimeoutError&) {
    throw;  // the receiver is alive but not reading: it has no refusal to give
  } catch (const NetworkError&) {
    throwWhy(std::current_exception());
  }
  return prefix.size() + message.header.size() + static_cast<uint64_t>(message.payloadBytes);
}

void MessageStreamSender::sync(SteadyTime deadline) {
  const auto prefix = encodeFramePrefix(FrameKind::kSync, 0);
  const iovec part{const_cast<uint8_t*>(prefix.data()), prefix.size()};
  MessageVerdict verdict;
  try {
    socket_->writeAll(&part, 1, deadline, "a sync frame");
    verdict = readMessageVerdict(*socket_, deadline);
  } catch (const TimeoutError&) {
    throw;
  } catch (const NetworkError&) {
    throwWhy(std::current_exception());
  }
  if (!verdict.accepted) throwRefusal(verdict, "");
}

void MessageStreamSender::throwWhy(const std::exception_ptr& failure) {
  const std::string reason = readRefusal(*socket_, std::chrono::steady_clock::now() + kRefusalWait);
  if (!reason.empty()) throwRefusal(MessageVerdict{false, false, reason}, "");
  std::rethrow_exception(failure);
}

}  // namespace ravnest::detail
