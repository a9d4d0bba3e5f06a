#include "ravnest/node/submodel_file.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include <ATen/core/Dict.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include "ravnest/common/error.h"

namespace ravnest {

std::string saveSubmodel(Node& node, const std::string& trainedFolder) {
  const NodeConfig& config = node.config();
  const std::filesystem::path folder =
      std::filesystem::path(trainedFolder) / ("cluster_" + std::to_string(config.rank));
  const std::filesystem::path path = folder / ("submod_" + std::to_string(config.stageIndex) + ".pt");
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  RAVNEST_CHECK_AS(Error, !error, config.name(), ": cannot create ", folder.string(), ": ", error.message());

  // Detached copies: the file must not record autograd history, and the stage keeps training on its own.
  c10::Dict<std::string, at::Tensor> stateDict;
  for (const auto& [name, tensor] : node.stage().namedParameters()) stateDict.insert(name, tensor.detach().clone());
  for (const auto& [name, tensor] : node.stage().namedBuffers()) stateDict.insert(name, tensor.detach().clone());
  const std::vector<char> bytes = torch::jit::pickle_save(stateDict);

  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  RAVNEST_CHECK_AS(Error, file.good(), config.name(), ": cannot write ", path.string());
  return path.string();
}

}  // namespace ravnest
