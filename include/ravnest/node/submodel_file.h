#pragma once

#include <string>

#include "ravnest/node/node.h"

namespace ravnest {

/// The folder, relative to the working directory, that trained submodels are saved under by default: the one
/// ravnest.model_fusion() reads.
inline constexpr const char* kTrainedFolder = "trained";

/// Saves the node's stage (parameters, then buffers, by the original model's state-dict names) to
/// `<trainedFolder>/cluster_<rank>/submod_<stage index>.pt` in torch.save's format, creating the folders, and
/// returns that path. ravnest.model_fusion() merges these files of every node of a cluster into the whole
/// model's state dict, whether a node ran in Python or C++. Call once the node stopped (after
/// Node::waitUntilStopped() returned true, when Node::saveRequested()). Throws Error when the file cannot be
/// written.
std::string saveSubmodel(Node& node, const std::string& trainedFolder = kTrainedFolder);

}  // namespace ravnest
