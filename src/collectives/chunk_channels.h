#pragma once

#include <ATen/core/Tensor.h>

#include "ravnest/comm/message.h"

namespace ravnest::detail {

/// How one ring round moves its segments to the next member. Two transports implement it: a ring connection of
/// its own (SocketChunkSender, the default) and gRPC messages (SegmentSender, used under TLS).
class ChunkSender {
 public:
  virtual ~ChunkSender() = default;
  /// Queues `segment` (a 1-D contiguous slice that stays unchanged until finish()) to go out tagged `tag`.
  /// Throws the failure of an earlier segment, so a dead next member stops the ring early.
  virtual void send(const RingTag& tag, const at::Tensor& segment) = 0;
  /// Waits until every queued segment left; throws the first failure.
  virtual void finish() = 0;
};

/// How one ring round takes the segments of the previous member, in the order the ring sends them.
class ChunkReceiver {
 public:
  virtual ~ChunkReceiver() = default;
  /// Reduce-scatter: `sum` = `addend` + the segment tagged `tag`. Only `sum` is written, also on failure.
  virtual void addInto(const RingTag& tag, at::Tensor& sum, const at::Tensor& addend) = 0;
  /// Last reduce-scatter step: `mean` = (`mean` + the segment tagged `tag`) / `members`. `scratch`, of the same
  /// size, may be written. A failure may leave part of `mean` averaged, never with values that failed a check.
  virtual void averageInto(const RingTag& tag, at::Tensor& mean, at::Tensor& scratch, int members) = 0;
  /// All-gather: `target` = the segment tagged `tag`. A failure may leave part of `target` written, with
  /// checked values only.
  virtual void copyInto(const RingTag& tag, at::Tensor& target) = 0;
};

}  // namespace ravnest::detail
