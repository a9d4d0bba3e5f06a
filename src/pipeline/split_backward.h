#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/csrc/autograd/function.h>

namespace ravnest::detail {

/// One micro-batch's backward pass in two parts, as in ZB-H1 ("Zero Bubble Pipeline Parallelism", ICLR 2024):
///
/// - B (computeInputGradients) back-propagates only along the nodes of the autograd graph that lead to the
///   stage's inputs. Every such node computes its input gradients and skips its weight gradients (the engine
///   masks outputs nothing needs). The gradient arriving at each node that also feeds a weight is captured,
///   and the graph is kept.
/// - W (computeWeightGradients) feeds the captured gradients back into those nodes with their input edges
///   cut, so each computes only its weight gradients, and runs the weight-only parts of the graph below them
///   (a transpose, an AccumulateGrad). Outputs that do not depend on the inputs at all (the first stage) go to
///   W whole.
///
/// B then W does the work of one ordinary backward pass, no node's gradient twice. Both parts run in one
/// engine call each, so a weight used by several nodes (tied weights) collects every contribution once.
/// Weight gradients accumulate into the `.grad` of the leaves the graph reaches.
class SplitBackward {
 public:
  /// B. `roots` are the tensors to back-propagate from (outputs or a loss) with `rootGrads` (undefined: skip
  /// that root); `inputs` are leaves of the graph. Returns the gradient of each input (undefined where none).
  static std::pair<std::vector<at::Tensor>, SplitBackward> computeInputGradients(
      const std::vector<at::Tensor>& roots, const std::vector<at::Tensor>& rootGrads,
      const std::vector<at::Tensor>& inputs);

  /// W. Once; frees the graph parts it ran.
  void computeWeightGradients();

 private:
  struct CutEdge {
    std::shared_ptr<torch::autograd::Node> node;
    size_t index;
  };

  torch::autograd::edge_list weightRoots_;
  std::vector<at::Tensor> weightRootGrads_;
  std::vector<CutEdge> inputEdgesOfWeightNodes_;
};

}  // namespace ravnest::detail
