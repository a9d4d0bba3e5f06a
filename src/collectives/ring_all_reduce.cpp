#include "ravnest/collectives/ring_all_reduce.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <thread>

#include "collectives/arrival_registry.h"
#include "collectives/chunk_router.h"
#include "collectives/grpc_chunk_receiver.h"
#include "collectives/ring_layout.h"
#include "collectives/segment_sender.h"
#include "collectives/socket_chunk_receiver.h"
#include "collectives/socket_chunk_sender.h"
#include "comm/stream/stream_listener.h"
#include "comm/stream/stream_wire.h"
#include "ravnest/common/error.h"

namespace ravnest {
namespace detail {

/// A ring's connections to its neighbours, kept from round to round.
struct RingConnections {
  std::shared_ptr<StreamSocket> incoming;  // from the previous member
  std::shared_ptr<StreamSocket> outgoing;  // to the next member
  bool nextTakesMessages = false;        // the next member advertised no ring port: send over gRPC
  std::vector<uint8_t> bounce;           // where uncompressed segments are read, piece by piece
};

}  // namespace detail

namespace {

using Clock = std::chrono::steady_clock;

/// gRPC segments of one ring on the wire at once: enough to keep the link busy while acknowledgements travel.
constexpr int kSegmentsInFlight = 4;
/// Pieces that uncompressed segments are read in: small enough to stay in cache between the kernel's copy
/// into them and the reduction that reads them.
constexpr size_t kReadPieceBytes = size_t{1} << 20;

/// While a ring's round runs, the transport adds its reduce-scatter segments into `sums` as they arrive. The
/// window closes with the round; after a failure, segments of that round may still be arriving, so the ring
/// drops its `sums` (the next round allocates another) and the late ones land in memory no one reads.
class ArrivalWindow {
 public:
  ArrivalWindow(detail::ArrivalRegistry& registry, size_t ring, uint64_t round, at::Tensor& sums,
                const at::Tensor& values)
      : registry_(registry), ring_(ring), sums_(sums) {
    registry_.open(ring, round, sums, values);
  }
  ~ArrivalWindow() {
    registry_.close(ring_);
    if (!completed_) sums_ = at::Tensor();
  }
  ArrivalWindow(const ArrivalWindow&) = delete;
  ArrivalWindow& operator=(const ArrivalWindow&) = delete;

  void completed() { completed_ = true; }

 private:
  detail::ArrivalRegistry& registry_;
  const size_t ring_;
  at::Tensor& sums_;
  bool completed_ = false;
};

/// Shuts a ring's connections down when the scope it guards is left by an exception.
class ConnectionsClosedOnFailure {
 public:
  explicit ConnectionsClosedOnFailure(detail::RingConnections& connections) : connections_(connections) {}
  ~ConnectionsClosedOnFailure() {
    if (std::uncaught_exceptions() == exceptionsAtStart_) return;
    if (connections_.incoming) connections_.incoming->shutdown();
    if (connections_.outgoing) connections_.outgoing->shutdown();
  }
  ConnectionsClosedOnFailure(const ConnectionsClosedOnFailure&) = delete;
  ConnectionsClosedOnFailure& operator=(const ConnectionsClosedOnFailure&) = delete;

 private:
  detail::RingConnections& connections_;
  const int exceptionsAtStart_ = std::uncaught_exceptions();
};

}  // namespace

RingAllReduce::RingAllReduce(PeerServer& server, std::string nodeName, int rank, int ringSize,
                             std::vector<RingSpec> rings, RingAllReduceOptions options)
    : server_(server),
      nodeName_(std::move(nodeName)),
      rank_(rank),
      ringSize_(ringSize),
      rings_(std::move(rings)),
      options_(std::move(options)),
      router_(std::make_unique<detail::ChunkRouter>(server.inbox(MessageKind::kRingChunk))),
      arrivals_(std::make_unique<detail::ArrivalRegistry>(rings_.size())) {
  RAVNEST_CHECK(ringSize >= 1 && rank >= 0 && rank < ringSize, "all-reduce: rank ", rank,
                " is outside a ring of size ", ringSize);
  const int64_t segmentElements = options_.segmentBytes / static_cast<int64_t>(sizeof(float));
  for (size_t i = 0; i < rings_.size(); ++i) {
    const RingSpec& spec = rings_[i];
    RAVNEST_CHECK(!spec.tensorNames.empty() && spec.tensorNames.size() == spec.numels.size(), "all-reduce: ring ",
                  spec.ringId, " needs one element count per tensor name");
    RAVNEST_CHECK(ringIndex_.emplace(spec.ringId, i).second, "all-reduce: ring id ", spec.ringId, " appears twice");
    RAVNEST_CHECK(ringSize == 1 || !spec.nextAddress.empty(), "all-reduce: ring ", spec.ringId,
                  " has no next member");
    layouts_.emplace_back(spec.numels, ringSize, segmentElements);
    connections_.push_back(std::make_unique<detail::RingConnections>());
    sums_.emplace_back();
    staging_.emplace_back();
    if (ringSize > 1 && clients_.count(spec.nextAddress) == 0) {
      clients_.emplace(spec.nextAddress, std::make_unique<PeerClient>(nodeName_, spec.nextAddress, options_.transport));
    }
  }
  if (ringSize > 1 && server.streamListener() != nullptr) {
    server.streamListener()->setAdmission(
        [this](uint32_t ringId, const std::string& sender) { return senderRefusal(ringId, sender); });
    listener_ = server.streamListener();
    for (auto& connection : connections_) connection->bounce.resize(kReadPieceBytes);
  }
  server_.setValidator(MessageKind::kRingChunk, [this](const Message& message) { validateChunk(message); });
  server_.setArrivalPlanner(
      [this](const Message& header, const TensorMeta& tensor) { return planArrival(header, tensor); });
}

RingAllReduce::~RingAllReduce() {
  if (listener_) listener_->setAdmission({});
  server_.setArrivalPlanner({});
  server_.setValidator(MessageKind::kRingChunk, {});
}

void RingAllReduce::validateChunk(const Message& message) const {
  const at::Tensor values = message.tensors.empty() ? at::Tensor() : message.tensors.front().tensor;
  checkChunk(message, message.tensors.size(), values.defined() ? static_cast<size_t>(values.dim()) : 0,
             values.defined() ? values.numel() : 0, values.defined() ? values.scalar_type() : at::kFloat);
}

std::optional<ArrivalReduction> RingAllReduce::planArrival(const Message& header, const TensorMeta& tensor) {
  const size_t ringIndex = checkChunk(header, 1, tensor.shape.size(), tensor.numel(), tensor.dtype);
  const RingTag& tag = header.ring;
  if (tag.phase != 0 || tensor.codec != CodecKind::kNone || tensor.dtype != at::kFloat) return std::nullopt;
  const detail::RingLayout& layout = layouts_[ringIndex];
  const int previous = (rank_ + ringSize_ - 1) % ringSize_;
  const int chunk = detail::sentChunk(previous, ringSize_, 0, static_cast<int>(tag.step));
  const int64_t begin = layout.segmentBegin(chunk, tag.segment);
  return arrivals_->claim(ringIndex, tag.round, tag.step, tag.segment, begin, begin + layout.segmentSize(chunk, tag.segment));
}

size_t RingAllReduce::checkChunk(const Message& message, size_t tensorCount, size_t dims, int64_t numel,
                                 at::ScalarType dtype) const {
  const RingTag& tag = message.ring;
  const auto found = ringIndex_.find(tag.ringId);
  RAVNEST_CHECK_AS(ProtocolError, found != ringIndex_.end(), "ring chunk: ring ", tag.ringId,
                   " is not a ring of node ", nodeName_);
  const std::string refusal = senderRefusal(tag.ringId, message.sender);
  RAVNEST_CHECK_AS(PermissionError, refusal.empty(), "ring chunk: ", refusal);
  const uint64_t current = round_.load();
  // A member that finished this round may already send the next round's first chunks; nothing can be further ahead.
  RAVNEST_CHECK_AS(ProtocolError, tag.round == current || tag.round == current + 1, "ring chunk: round ", tag.round,
                   " of ring ", tag.ringId, " is not running (node ", nodeName_, " is at round ", current, ")");
  RAVNEST_CHECK_AS(ProtocolError, tag.phase <= 1 && static_cast<int>(tag.step) < ringSize_ - 1, "ring chunk: phase ",
                   tag.phase, " step ", tag.step, " is out of range for a ring of ", ringSize_);
  RAVNEST_CHECK_AS(ProtocolError, tensorCount == 1, "ring chunk: carries ", tensorCount, " tensors instead of 1");
  const detail::RingLayout& layout = layouts_[found->second];
  const int previous = (rank_ + ringSize_ - 1) % ringSize_;
  const int chunk = detail::sentChunk(previous, ringSize_, static_cast<int>(tag.phase), static_cast<int>(tag.step));
  RAVNEST_CHECK_AS(ProtocolError, static_cast<int64_t>(tag.segment) < layout.segmentCount(chunk), "ring chunk: segment ",
                   tag.segment, " is out of range for chunk ", chunk, " of ring ", tag.ringId);
  const int64_t expected = layout.segmentSize(chunk, tag.segment);
  RAVNEST_CHECK_AS(ProtocolError, dims == 1 && numel == expected && at::isFloatingType(dtype), "ring chunk: ring ",
                   tag.ringId, " step ", tag.step, " segment ", tag.segment, " expects ", expected,
                   " floating-point values, got ", numel, " of ", dtype);
  // Last, so that a chunk that is wrong anyway gets the precise reason.
  RAVNEST_CHECK_AS(ProtocolError, !listener_, "ring chunk: node ", nodeName_,
                   " takes ring chunks over ring connections (port ", listener_->port(),
                   "), not as messages; run the same ravnest version, and the same TLS setup, on every node");
  return found->second;
}

void RingAllReduce::averageInPlace(const std::unordered_map<std::string, at::Tensor>& tensors) {
  std::vector<std::vector<at::Tensor>> members(rings_.size());
  for (size_t i = 0; i < rings_.size(); ++i) {
    const RingSpec& spec = rings_[i];
    for (size_t j = 0; j < spec.tensorNames.size(); ++j) {
      const auto found = tensors.find(spec.tensorNames[j]);
      RAVNEST_CHECK(found != tensors.end(), "all-reduce: no tensor named '", spec.tensorNames[j], "' (ring ",
                    spec.ringId, ")");
      RAVNEST_CHECK(found->second.numel() == spec.numels[j], "all-reduce: '", spec.tensorNames[j], "' has ",
                    found->second.numel(), " elements, the ring plan says ", spec.numels[j]);
      members[i].push_back(found->second);
    }
  }
  if (ringSize_ == 1) {
    ++round_;
    return;
  }
  std::vector<std::exception_ptr> failures(rings_.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < rings_.size(); ++i) {
    threads.emplace_back([&, i] {
      try {
        runRing(i, members[i]);
      } catch (...) {
        failures[i] = std::current_exception();
        dropConnections(i);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ++round_;
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
}

void RingAllReduce::runRing(size_t ringIndex, const std::vector<at::Tensor>& members) {
  at::NoGradGuard noGrad;  // the members are parameters: averaging them is no step of training
  RingRange range = stage(ringIndex, members);
  const uint64_t round = round_.load();
  std::optional<ArrivalWindow> arrivals;
  if (!listener_ && range.values.scalar_type() == at::kFloat) {
    arrivals.emplace(*arrivals_, ringIndex, round, sums_[ringIndex], range.values);
  }
  const RingSpec& spec = rings_[ringIndex];
  const std::string waitingFor = "the previous member of ring " + std::to_string(spec.ringId) +
                                 (spec.previousAddress.empty() ? "" : " (" + spec.previousAddress + ")");
  // The sender connects first: every member waits for its previous member's connection only after opening its
  // own, so a ring of members starting together cannot wait on itself.
  detail::RingConnections& connection = *connections_[ringIndex];
  const auto sender = openSender(ringIndex, [&connection] { connection.incoming->shutdown(); });
  const auto receiver = openReceiver(ringIndex, waitingFor);
  // Destroyed before the sender: on a failure it ends the ring's connections first, since the sender's writer may
  // be blocked on a next member that stopped reading, and joining it would take the whole send deadline.
  const ConnectionsClosedOnFailure closedOnFailure(connection);
  streamSegments(ringIndex, round, range, *sender, *receiver);
  sender->finish();
  if (arrivals) arrivals->completed();
  unstage(range, members);
}

RingAllReduce::RingRange RingAllReduce::stage(size_t ringIndex, const std::vector<at::Tensor>& members) {
  const int64_t numel = layouts_[ringIndex].numel;
  const bool integral = !at::isFloatingType(members.front().scalar_type());
  // Integer state (BatchNorm's num_batches_tracked) is averaged in float64, exact for counts below 2^53.
  const at::ScalarType reduceType = integral ? at::kDouble : at::kFloat;
  // Both buffers are kept across rounds: fresh ones would page-fault on every 4 KiB at every round.
  auto persistent = [&](at::Tensor& buffer) -> at::Tensor& {
    if (!buffer.defined() || buffer.scalar_type() != reduceType) buffer = at::empty({numel}, reduceType);
    return buffer;
  };
  RingRange range;
  range.integral = integral;
  range.sums = persistent(sums_[ringIndex]);
  range.inPlace = members.size() == 1 && members.front().is_cpu() && members.front().is_contiguous() &&
                  members.front().scalar_type() == reduceType;
  if (range.inPlace) {
    range.values = members.front().detach().view({-1});
    return range;
  }
  range.values = persistent(staging_[ringIndex]);
  int64_t offset = 0;
  for (const at::Tensor& member : members) {
    range.values.slice(0, offset, offset + member.numel()).copy_(member.detach().reshape({-1}));
    offset += member.numel();
  }
  return range;
}

void RingAllReduce::streamSegments(size_t ringIndex, uint64_t round, const RingRange& range,
                                   detail::ChunkSender& sender, detail::ChunkReceiver& receiver) {
  const RingSpec& spec = rings_[ringIndex];
  const detail::RingLayout& layout = layouts_[ringIndex];
  const at::Tensor& values = range.values;
  const at::Tensor& sums = range.sums;
  auto tagOf = [&](uint32_t phase, int step, int64_t segment) {
    return RingTag{spec.ringId, round, phase, static_cast<uint32_t>(step), static_cast<uint32_t>(segment)};
  };
  auto sendSegment = [&](uint32_t phase, int step, const at::Tensor& source, int chunk, int64_t segment) {
    const int64_t begin = layout.segmentBegin(chunk, segment);
    sender.send(tagOf(phase, step, segment), source.slice(0, begin, begin + layout.segmentSize(chunk, segment)));
  };
  const int previous = (rank_ + ringSize_ - 1) % ringSize_;
  const int lastStep = ringSize_ - 2;
  // Segments stream through the steps: a segment is sent on as soon as it was received and reduced, so the
  // link never waits for the rest of its chunk. The chunk received at one step is the one sent at the next,
  // and the last reduce-scatter step receives the chunk this member owns, the first one all-gather sends.
  const int ownFirst = detail::sentChunk(rank_, ringSize_, 0, 0);
  for (int64_t segment = 0; segment < layout.segmentCount(ownFirst); ++segment) {
    sendSegment(0, 0, values, ownFirst, segment);
  }
  for (uint32_t phase = 0; phase <= 1; ++phase) {
    for (int step = 0; step <= lastStep; ++step) {
      const int incoming = detail::sentChunk(previous, ringSize_, static_cast<int>(phase), step);
      for (int64_t segment = 0; segment < layout.segmentCount(incoming); ++segment) {
        const RingTag tag = tagOf(phase, step, segment);
        const int64_t begin = layout.segmentBegin(incoming, segment);
        const int64_t end = begin + layout.segmentSize(incoming, segment);
        at::Tensor mean = values.slice(0, begin, end);
        if (phase == 1) {  // all-gather: the averaged segment lands in place and goes on
          receiver.copyInto(tag, mean);
          if (step < lastStep) sendSegment(1, step + 1, values, incoming, segment);
          continue;
        }
        at::Tensor sum = sums.slice(0, begin, end);
        if (step < lastStep) {  // reduce-scatter: add and pass the partial sum on
          receiver.addInto(tag, sum, mean);
          sendSegment(0, step + 1, sums, incoming, segment);
          continue;
        }
        receiver.averageInto(tag, mean, sum, ringSize_);  // the owned chunk: its mean, the first all-gather sends
        // Keep the value the other members will decode, so every replica holds the same numbers.
        if (options_.codec != CodecKind::kNone) mean.copy_(decodeTensor(encodeTensor(mean, options_.codec)));
        sendSegment(1, 0, values, incoming, segment);
      }
    }
  }
}

void RingAllReduce::unstage(const RingRange& range, const std::vector<at::Tensor>& members) {
  if (range.inPlace) return;
  int64_t offset = 0;
  for (const at::Tensor& member : members) {
    at::Tensor averaged = range.values.slice(0, offset, offset + member.numel()).view(member.sizes());
    if (range.integral) averaged = averaged.round();
    member.copy_(averaged);
    offset += member.numel();
  }
}

std::unique_ptr<detail::ChunkSender> RingAllReduce::openSender(size_t ringIndex, std::function<void()> onFailure) {
  const RingSpec& spec = rings_[ringIndex];
  detail::RingConnections& connection = *connections_[ringIndex];
  const PeerClient& next = *clients_.at(spec.nextAddress);
  if (!connection.outgoing && !connection.nextTakesMessages) {
    const int port = next.ringPort();
    connection.nextTakesMessages = port == 0;
    if (port != 0) {
      const auto deadline = Clock::now() + options_.transport.deadline;
      std::shared_ptr<detail::StreamSocket> socket;
      try {
        socket = detail::StreamSocket::connect(detail::splitHostPort(spec.nextAddress).first, port, deadline);
      } catch (const NetworkError& error) {
        throw NetworkError(detail::concat(
            "node ", nodeName_, ": ", error.what(), ". The next member of ring ", spec.ringId, " (",
            spec.nextAddress, ") answers pings but not on its ring port ", port,
            ": let that port through its firewall, or start the nodes with ring_port set to a port that is open "
            "(or to -1: ring chunks then go through the nodes' own ports, more slowly)"));
      }
      detail::introduce(*socket, {detail::StreamChannel::kRing, spec.ringId, options_.transport.authToken, nodeName_},
                        deadline);
      connection.outgoing = std::move(socket);
    }
  }
  if (connection.nextTakesMessages) {
    return std::make_unique<detail::SegmentSender>(next, options_.codec, kSegmentsInFlight);
  }
  return std::make_unique<detail::SocketChunkSender>(connection.outgoing, options_.codec, options_.transport.deadline,
                                                     options_.transport.traffic, spec.nextAddress,
                                                     std::move(onFailure));
}

std::unique_ptr<detail::ChunkReceiver> RingAllReduce::openReceiver(size_t ringIndex, const std::string& waitingFor) {
  if (!listener_) return std::make_unique<detail::GrpcChunkReceiver>(*router_, options_.chunkDeadline, waitingFor);
  const RingSpec& spec = rings_[ringIndex];
  detail::RingConnections& connection = *connections_[ringIndex];
  // A previous member that failed a round opens a fresh connection for the next one.
  if (auto newer = listener_->takeNewer(spec.ringId)) connection.incoming = std::move(newer);
  if (!connection.incoming) {
    connection.incoming = listener_->take(spec.ringId, Clock::now() + options_.chunkDeadline, waitingFor);
  }
  return std::make_unique<detail::SocketChunkReceiver>(
      *connection.incoming, connection.bounce, options_.chunkDeadline, waitingFor, options_.transport.traffic,
      spec.previousNode.empty() ? connection.incoming->peer() : spec.previousNode);
}

std::string RingAllReduce::senderRefusal(uint32_t ringId, const std::string& sender) const {
  const auto found = ringIndex_.find(ringId);
  if (found == ringIndex_.end()) return detail::concat("ring ", ringId, " is not a ring of node ", nodeName_);
  const std::string& previousNode = rings_[found->second].previousNode;
  if (previousNode.empty() || sender == previousNode) return {};
  return detail::concat("node ", nodeName_, " takes chunks of ring ", ringId, " only from ", previousNode,
                        ", not from '", sender, "'");
}

void RingAllReduce::dropConnections(size_t ringIndex) {
  detail::RingConnections& connection = *connections_[ringIndex];
  connection.incoming.reset();
  connection.outgoing.reset();
  connection.nextTakesMessages = false;
}

}  // namespace ravnest
