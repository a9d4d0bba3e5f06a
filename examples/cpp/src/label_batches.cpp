#include "label_batches.h"

#include <fstream>
#include <iterator>
#include <stdexcept>

#include <torch/serialize.h>

namespace cpp_example {
namespace {

std::vector<at::Tensor> tensorList(const c10::Dict<c10::IValue, c10::IValue>& file, const std::string& key,
                                   const std::string& path) {
  if (!file.contains(key) || !file.at(key).isList()) {
    throw std::runtime_error(path + " has no list '" + key + "': write it with cluster_formation.py");
  }
  std::vector<at::Tensor> result;
  for (const c10::IValue& entry : file.at(key).toListRef()) result.push_back(entry.toTensor());
  if (result.empty()) throw std::runtime_error(path + ": the list '" + key + "' is empty");
  return result;
}

}  // namespace

LabelBatches loadLabelBatches(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error(path + " is missing: run cluster_formation.py first");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const c10::IValue saved = torch::pickle_load(bytes);
  if (!saved.isGenericDict()) throw std::runtime_error(path + " does not hold a dict of batches");
  const auto batches = saved.toGenericDict();
  return {tensorList(batches, "train_labels", path), tensorList(batches, "val_labels", path)};
}

}  // namespace cpp_example
