// A ravnest provider written in C++. It runs a stem or the leaf of a cluster whose other nodes may be Python
// providers (provider.py): it loads the node's metadata and stage from node_data/, trains the stage with a
// torch::optim optimizer and, on the leaf, computes a C++ cross-entropy loss against the labels of
// data/digits_batches.pt. It serves until the root shuts the pipeline down, then saves the stage to trained/
// when the root asked for it, where ravnest.model_fusion() finds it next to the Python nodes' stages. SIGINT
// or SIGTERM stops the whole cluster at once, as with a Python provider.
//
//   cpp_provider node_<id> [--lr RATE] [--node-data FOLDER] [--data FILE]     (run from the example folder)
#include <chrono>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include <torch/optim/adam.h>
#include <torch/utils.h>

#include "classification_leaf.h"
#include "ravnest/node/node.h"
#include "ravnest/node/submodel_file.h"
#include "ravnest/pipeline/torch_optimizer_hook.h"

namespace {

// The seed provider.py gives torch (ravnest.set_seed(42)), so a C++ leaf draws what a Python leaf would.
constexpr uint64_t kSeed = 42;
// How often the main thread, while the node trains, looks whether a signal arrived.
constexpr std::chrono::milliseconds kSignalCheck{200};

// The signal that asked this provider to stop; 0 while none did. Set by the handler, read by the main thread.
volatile std::sig_atomic_t receivedSignal = 0;

extern "C" void rememberSignal(int signal) { receivedSignal = signal; }

// The words a Python provider uses for the same stop, so that logs read alike whichever language a node runs.
std::string stopReason(int signal) {
  return std::string("interrupted by ") + (signal == SIGINT ? "SIGINT" : "SIGTERM");
}

const char* const kUsage =
    "usage: cpp_provider node_<id> [--lr RATE] [--node-data FOLDER] [--data FILE]\n"
    "Runs a stem or the leaf of the cluster in node_data/ (run cluster_formation.py first); the root runs\n"
    "in Python: provider.py node_<id>.";

double positiveNumber(const std::string& option, const std::string& text) {
  size_t parsed = 0;
  double value = 0;
  try {
    value = std::stod(text, &parsed);
  } catch (const std::exception&) {
    parsed = 0;
  }
  if (parsed != text.size() || !(value > 0)) {
    throw std::invalid_argument(option + " needs a positive number, got '" + text + "'");
  }
  return value;
}

struct Arguments {
  std::string node;
  double learningRate = 0.001;  // provider.py's LEARNING_RATE
  std::string nodeData = "node_data";
  std::string dataFile = "data/digits_batches.pt";
};

Arguments parseArguments(int argc, char** argv) {
  Arguments arguments;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    const bool hasValue = i + 1 < argc;
    if (argument == "--lr" && hasValue) {
      arguments.learningRate = positiveNumber(argument, argv[++i]);
    } else if (argument == "--node-data" && hasValue) {
      arguments.nodeData = argv[++i];
    } else if (argument == "--data" && hasValue) {
      arguments.dataFile = argv[++i];
    } else if (arguments.node.empty() && argument.rfind("--", 0) != 0) {
      arguments.node = argument;
    } else {
      throw std::invalid_argument("unexpected argument '" + argument + "'");
    }
  }
  if (arguments.node.empty()) throw std::invalid_argument("name the node this provider runs");
  return arguments;
}

int run(const Arguments& arguments) {
  torch::manual_seed(kSeed);
  ravnest::Node node(arguments.nodeData + "/nodes/" + arguments.node + ".json");
  const ravnest::NodeConfig& config = node.config();
  if (config.isRoot) {
    std::cerr << config.name() << " is the root, which feeds the data: run provider.py " << config.name()
              << " for it.\n";
    return 2;
  }

  ravnest::NodeHooks hooks;
  // A stage of parameter-free layers only (activations, pooling) has nothing to optimize.
  if (const auto parameters = node.stage().parameters(); !parameters.empty()) {
    auto adam = std::make_shared<torch::optim::Adam>(parameters, torch::optim::AdamOptions(arguments.learningRate));
    hooks.optimizer = std::make_shared<ravnest::TorchOptimizerHook>(adam);
  }
  if (config.isLeaf) {
    hooks.leaf = std::make_shared<cpp_example::ClassificationLeaf>(cpp_example::loadLabelBatches(arguments.dataFile),
                                                                   "losses.txt", "val_accuracies.txt");
  }
  std::signal(SIGINT, rememberSignal);
  std::signal(SIGTERM, rememberSignal);
  node.start(std::move(hooks));
  while (!node.waitUntilStopped(kSignalCheck)) {
    if (receivedSignal != 0) {
      const int signal = receivedSignal;
      // Tells the other nodes of the cluster at once instead of leaving them to notice the silence.
      node.stop(stopReason(signal));
      std::cerr << config.name() << ": " << stopReason(signal) << std::endl;
      return 128 + signal;
    }
  }
  if (node.saveRequested()) std::cout << "saved " << ravnest::saveSubmodel(node) << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Arguments arguments;
  try {
    arguments = parseArguments(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "cpp_provider: " << error.what() << "\n" << kUsage << std::endl;
    return 2;
  }
  try {
    return run(arguments);
  } catch (const std::exception& error) {
    std::cerr << "cpp_provider " << arguments.node << ": " << error.what() << std::endl;
    return 1;
  }
}
