#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace cpp_example {

/// The leaf's share of data/digits_batches.pt (see data.py): the label batches, in the order the root feeds
/// the matching input batches.
struct LabelBatches {
  std::vector<at::Tensor> train;
  std::vector<at::Tensor> validation;
};

/// Reads the `train_labels` and `val_labels` lists of a file that Python's torch.save wrote. Throws
/// std::runtime_error naming the file when it is missing or lacks either list.
LabelBatches loadLabelBatches(const std::string& path);

}  // namespace cpp_example
