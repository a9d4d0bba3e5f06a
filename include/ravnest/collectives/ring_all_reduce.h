#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ravnest/comm/peer_client.h"
#include "ravnest/comm/peer_server.h"
#include "ravnest/tensor/codec.h"

namespace ravnest {

namespace detail {
class ArrivalRegistry;
class ChunkReceiver;
class ChunkRouter;
class ChunkSender;
class StreamListener;
struct RingConnections;
struct RingLayout;
}  // namespace detail

/// One ring this node belongs to: a range of named tensors that one node of every cluster holds.
struct RingSpec {
  uint32_t ringId = 0;
  std::vector<std::string> tensorNames;  // flattening order, the same on every member
  std::vector<int64_t> numels;           // element count of each named tensor
  std::string nextAddress;               // the member in cluster rank + 1 (mod ring size): where we send
  std::string previousAddress;           // the member we receive from, named in errors; may be empty
  std::string previousNode;              // its node name: chunks claiming another sender are refused; empty: any
};

struct RingAllReduceOptions {
  /// Codec for the chunks on the wire. The reduction itself is always done in float32 (float64 for integers).
  CodecKind codec = CodecKind::kNone;
  /// Chunks are sent in segments of about this size, so sending, receiving and reducing overlap.
  int64_t segmentBytes = int64_t{16} << 20;
  /// Transport settings of the clients to the next members (job token, deadline of each send).
  TransportOptions transport;
  /// Longest wait for one chunk from the previous member.
  std::chrono::milliseconds chunkDeadline{std::chrono::seconds(60)};
};

/// Parallel multi-ring all-reduce across clusters. Every ring averages its range of tensors among its R
/// members (one per cluster): the range is flattened into one buffer cut into R chunks; R-1 reduce-scatter
/// steps leave each member owning the sum of one chunk, which it divides by R; R-1 all-gather steps hand every
/// member every averaged chunk. Each member sends and receives 2(R-1)/R of the range, the bandwidth optimum.
/// All rings of a node run at once, each on its own thread. Segments stream through the steps: each is sent on as
/// soon as it was received and reduced, so sending, receiving and reducing overlap.
/// Every replica ends with the same bits: with a lossy codec the owner of a chunk keeps the value its peers
/// decode. Chunks are tagged with ring, round, phase, step and segment; the receiver rejects chunks of unknown
/// rings, other rounds, steps out of range or the wrong size. They travel over a ring connection of their own
/// when the receiving server listens for them (TransportOptions::ringPort, not under TLS), else as
/// kRingChunk messages through its gRPC server; the sender asks in a ping.
class RingAllReduce {
 public:
  /// `server` receives this node's ring chunks and must outlive this object, which installs the kRingChunk
  /// validator and the rules of the server's ring connections. `rank` is this node's cluster, `ringSize` the
  /// number of clusters. Throws InvalidArgumentError for an inconsistent plan or a server that already serves
  /// another RingAllReduce.
  RingAllReduce(PeerServer& server, std::string nodeName, int rank, int ringSize, std::vector<RingSpec> rings,
                RingAllReduceOptions options = {});
  ~RingAllReduce();
  RingAllReduce(const RingAllReduce&) = delete;
  RingAllReduce& operator=(const RingAllReduce&) = delete;

  /// Replaces every tensor the rings name with its mean across the ring members, in place, and returns when
  /// all rings are done. Every member must call it the same number of times. Not reentrant. A failure may leave
  /// some elements averaged and the others as they were.
  /// Throws InvalidArgumentError when a named tensor is missing or its size differs from the first call,
  /// NetworkError or TimeoutError when a member fails or falls silent, ProtocolError when one rejects a chunk.
  void averageInPlace(const std::unordered_map<std::string, at::Tensor>& tensors);

  /// Rounds completed so far.
  uint64_t rounds() const { return round_.load(); }

 private:
  /// A ring's flat range for one round, and the partial sums of its reduce-scatter.
  struct RingRange {
    at::Tensor values;  // the members themselves (inPlace) or a flat copy of them
    at::Tensor sums;
    bool inPlace = false;
    bool integral = false;  // integer members, averaged in float64 and rounded back
  };

  /// One round of ring `ringIndex`: stage, connect, stream the segments, write back.
  void runRing(size_t ringIndex, const std::vector<at::Tensor>& members);
  /// The range of `members`: a ring of one contiguous CPU tensor of the reduction's type works on that tensor
  /// itself, so nothing is copied in or out; other rings stage a flat copy. Buffers persist across rounds.
  RingRange stage(size_t ringIndex, const std::vector<at::Tensor>& members);
  /// Reduce-scatter then all-gather, segment by segment: the ring's algorithm (see the file's comment).
  void streamSegments(size_t ringIndex, uint64_t round, const RingRange& range, detail::ChunkSender& sender,
                      detail::ChunkReceiver& receiver);
  /// Writes a staged range back into `members` (rounding integer ones).
  void unstage(const RingRange& range, const std::vector<at::Tensor>& members);
  /// The round's sender to the next member: over the ring connection it advertises (opened now if needed), or
  /// as gRPC messages. `onFailure` runs when a write on a ring connection fails.
  std::unique_ptr<detail::ChunkSender> openSender(size_t ringIndex, std::function<void()> onFailure);
  std::unique_ptr<detail::ChunkReceiver> openReceiver(size_t ringIndex, const std::string& waitingFor);
  /// The one rule for who may send a ring's chunks here (on a ring connection or as messages): why `sender`
  /// may not send chunks of ring `ringId`, or "" when it may.
  std::string senderRefusal(uint32_t ringId, const std::string& sender) const;
  /// Closes both ring connections of a ring that failed; the next round opens fresh ones.
  void dropConnections(size_t ringIndex);
  void validateChunk(const Message& message) const;
  /// The checks of validateChunk on a chunk of `tensorCount` tensors, the first of `dims` dimensions, `numel`
  /// elements and type `dtype`; returns the ring's position in rings_.
  size_t checkChunk(const Message& message, size_t tensorCount, size_t dims, int64_t numel, at::ScalarType dtype) const;
  /// PeerServer's arrival planner: reduce-scatter segments of the running round, uncompressed float32, are
  /// reduced into sums as they arrive.
  std::optional<ArrivalReduction> planArrival(const Message& header, const TensorMeta& tensor);

  PeerServer& server_;
  const std::string nodeName_;
  const int rank_;
  const int ringSize_;
  const std::vector<RingSpec> rings_;
  const RingAllReduceOptions options_;
  std::vector<detail::RingLayout> layouts_;  // per ring
  std::vector<at::Tensor> sums_;     // per ring: reduce-scatter's partial sums, reused every round
  std::vector<at::Tensor> staging_;  // per ring: a flat copy of rings that cannot be reduced in place
  std::map<uint32_t, size_t> ringIndex_;     // ring id -> position in rings_
  std::map<std::string, std::unique_ptr<PeerClient>> clients_;
  std::unique_ptr<detail::ChunkRouter> router_;
  std::unique_ptr<detail::ArrivalRegistry> arrivals_;
  detail::StreamListener* listener_ = nullptr;  // server_'s; null: chunks come through server_ as messages
  std::vector<std::unique_ptr<detail::RingConnections>> connections_;  // per ring
  std::atomic<uint64_t> round_{0};
};

}  // namespace ravnest
