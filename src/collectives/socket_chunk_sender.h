#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "collectives/chunk_channels.h"
#include "comm/ring_socket.h"
#include "comm/ring_wire.h"
#include "ravnest/comm/traffic_counters.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// Writes one ring round's segments to the next member's ring connection from a thread of its own, in the
/// order they were queued, straight from the tensors' memory when uncompressed. The ring thread meanwhile reads
/// from the previous member: if all members wrote on their ring threads, a ring of full socket buffers would
/// wait on itself.
class SocketChunkSender final : public ChunkSender {
 public:
  /// `onFailure` runs once on the writer thread when a write fails (the ring stops waiting on its reads).
  /// `traffic` (may be null) counts the bytes written under `target`.
  SocketChunkSender(std::shared_ptr<RingSocket> socket, CodecKind codec, std::chrono::milliseconds deadline,
                    std::shared_ptr<TrafficCounters> traffic, std::string target, std::function<void()> onFailure);
  /// Drops what is still queued and joins the writer; never throws.
  ~SocketChunkSender() override;

  void send(const RingTag& tag, const at::Tensor& segment) override;
  void finish() override;

 private:
  struct Segment {
    RingTag tag;
    at::Tensor values;
  };

  void run();
  /// Encodes `segment` (on the writer thread, so that compression overlaps the ring's reads) and writes it.
  void write(const Segment& segment);

  const std::shared_ptr<RingSocket> socket_;
  const CodecKind codec_;
  const std::chrono::milliseconds deadline_;
  const std::shared_ptr<TrafficCounters> traffic_;
  const std::string target_;
  const std::function<void()> onFailure_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Segment> queue_;
  bool writing_ = false;
  bool closing_ = false;
  std::exception_ptr failure_;
  std::thread writer_;
};

}  // namespace ravnest::detail
