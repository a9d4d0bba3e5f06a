#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ravnest {

/// PipeDream-style weight versions, copy-on-write. A micro-batch's forward pass acquires the current version;
/// its backward pass must see the same weights. The optimizer changes the weights in place, so just before
/// an update the current weights are copied, but only when some micro-batch still holds their version; a copy
/// is freed when the last micro-batch holding it releases it. With at most N micro-batches in flight at most
/// N copies exist, and none at all when every micro-batch finishes before the next update (synchronous
/// training). An autograd graph that must outlive the next update (a kept forward graph, a deferred weight
/// pass) asks for frozen() weights: the copy is then made at once and shared by every holder of the version.
///
/// Not thread-safe: the node's compute thread owns it.
class WeightStash {
 public:
  /// `parameters` are the live parameter tensors the optimizer updates (they share storage with the module).
  explicit WeightStash(std::vector<at::Tensor> parameters);

  /// Records one more user of the current weights and returns their version.
  uint64_t acquireCurrent();

  /// Drops one user of `version`; frees its copy when it was the last. Throws InvalidArgumentError for a
  /// version nobody holds.
  void release(uint64_t version);

  /// Call right before the optimizer updates the weights: copies them if their version is held, then makes
  /// the next version current.
  void beforeUpdate();

  /// The weights of a held `version`: its copy, or the live parameters while it is current. Valid until the
  /// next update when live. Throws InvalidArgumentError for a version that was not kept.
  std::vector<at::Tensor> weights(uint64_t version) const;
  /// The weights of a held `version` as a copy no update touches: copies the current weights now if needed.
  const std::vector<at::Tensor>& frozen(uint64_t version);

  uint64_t currentVersion() const { return current_; }
  /// Versions held by a copy right now, and the bytes those copies take.
  size_t stashedVersions() const { return copies_.size(); }
  int64_t stashedBytes() const;

 private:
  std::vector<at::Tensor> parameters_;
  uint64_t current_ = 0;
  std::map<uint64_t, size_t> users_;                     // version -> micro-batches holding it
  std::map<uint64_t, std::vector<at::Tensor>> copies_;  // older versions still held
};

}  // namespace ravnest
