#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "label_batches.h"
#include "ravnest/pipeline/hooks.h"

namespace cpp_example {

/// The leaf's side of classification training, in C++: cross-entropy of the model's class scores against
/// the label batch that matches each micro-batch, and top-1 accuracy over each validation pass. Writes what
/// a Python leaf writes: every loss to losses.txt, every validation accuracy to val_accuracies.txt, one per
/// line, and prints "Validation accuracy: ..." after each pass.
///
/// Labels pair with micro-batches by position: the root feeds the batches of an epoch in file order, and each
/// training micro-batch carries its index within the epoch (MicroBatchInfo::batch), which picks its label
/// batch; the k-th validation micro-batch of a pass takes validation label batch k. The node calls the hooks
/// from its compute thread only.
class ClassificationLeaf final : public ravnest::LeafHook {
 public:
  /// Empties `lossFile` and `accuracyFile`. Throws std::runtime_error when either cannot be written.
  ClassificationLeaf(LabelBatches labels, std::string lossFile, std::string accuracyFile);

  at::Tensor loss(const std::vector<ravnest::NamedTensor>& modelOutput, const ravnest::MicroBatchInfo& info) override;
  void evaluateBatch(const std::vector<ravnest::NamedTensor>& modelOutput,
                     const ravnest::MicroBatchInfo& info) override;
  void endEvaluation() override;

 private:
  /// The label batch of training micro-batch `info`. Throws std::runtime_error when there is none.
  const at::Tensor& trainingLabels(const ravnest::MicroBatchInfo& info) const;

  LabelBatches labels_;
  size_t nextValidation_ = 0;
  int64_t correct_ = 0;
  int64_t scored_ = 0;
  // Opened for each line, as the Python leaf does: a Python provider sharing the folder removes both files
  // when its node starts, which is before training can begin.
  std::string lossFile_;
  std::string accuracyFile_;
};

}  // namespace cpp_example
