#include "classification_leaf.h"

#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include <torch/nn/functional/loss.h>

namespace cpp_example {
namespace {

/// The class scores: the model's one output value.
const at::Tensor& scoresOf(const std::vector<ravnest::NamedTensor>& modelOutput) {
  if (modelOutput.size() != 1) {
    throw std::runtime_error("the classification leaf expects one model output (class scores), got " +
                             std::to_string(modelOutput.size()));
  }
  return modelOutput.front().tensor;
}

void writeLine(const std::string& path, std::ios::openmode mode, const std::string& line) {
  std::ofstream file(path, mode);
  file << line;
  if (!file) throw std::runtime_error("cannot write " + path);
}

std::string lineOf(double value) {
  std::ostringstream text;
  // Enough digits to read back the same float32 value.
  text << std::setprecision(std::numeric_limits<float>::max_digits10) << value << '\n';
  return text.str();
}

}  // namespace

ClassificationLeaf::ClassificationLeaf(LabelBatches labels, std::string lossFile, std::string accuracyFile)
    : labels_(std::move(labels)), lossFile_(std::move(lossFile)), accuracyFile_(std::move(accuracyFile)) {
  writeLine(lossFile_, std::ios::trunc, "");
  writeLine(accuracyFile_, std::ios::trunc, "");
}

at::Tensor ClassificationLeaf::loss(const std::vector<ravnest::NamedTensor>& modelOutput,
                                    const ravnest::MicroBatchInfo& info) {
  const at::Tensor& scores = scoresOf(modelOutput);
  const at::Tensor labels = trainingLabels(info).to(scores.device());
  at::Tensor loss = torch::nn::functional::cross_entropy(scores, labels);
  writeLine(lossFile_, std::ios::app, lineOf(loss.item<float>()));
  return loss;
}

void ClassificationLeaf::evaluateBatch(const std::vector<ravnest::NamedTensor>& modelOutput,
                                       const ravnest::MicroBatchInfo&) {
  if (nextValidation_ >= labels_.validation.size()) {
    throw std::runtime_error("the root fed more validation batches than the " +
                             std::to_string(labels_.validation.size()) + " label batches the leaf has");
  }
  const at::Tensor& scores = scoresOf(modelOutput);
  const at::Tensor labels = labels_.validation[nextValidation_++].to(scores.device());
  correct_ += scores.argmax(-1).eq(labels).sum().item<int64_t>();
  scored_ += labels.size(0);
}

void ClassificationLeaf::endEvaluation() {
  const double accuracy = scored_ > 0 ? static_cast<double>(correct_) / static_cast<double>(scored_) : 0.0;
  correct_ = scored_ = 0;
  nextValidation_ = 0;
  // In percent, rounded to 2 decimals, as the original Ravnest (and a Python leaf) writes it.
  const double percent = std::round(accuracy * 10000.0) / 100.0;
  writeLine(accuracyFile_, std::ios::app, lineOf(percent));
  std::cout << "Validation Accuracy:  " << std::fixed << std::setprecision(2) << percent << std::endl;
}

const at::Tensor& ClassificationLeaf::trainingLabels(const ravnest::MicroBatchInfo& info) const {
  if (info.batch < 0 || static_cast<size_t>(info.batch) >= labels_.train.size()) {
    throw std::runtime_error("training micro-batch " + std::to_string(info.batch) + " of epoch " +
                             std::to_string(info.epoch) + " has no labels: the leaf has " +
                             std::to_string(labels_.train.size()) + " label batches (does the root feed the same "
                             "data file?)");
  }
  return labels_.train[static_cast<size_t>(info.batch)];
}

}  // namespace cpp_example
