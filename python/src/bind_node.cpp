// Python bindings of the pipeline node. Blocking calls release the GIL; the hooks the compute thread calls
// take it, and turn a Python exception into a ravnest::Error that stops the node with the Python message.
#include "bindings.h"
#include "hook_gil.h"
#include "node_option_fields.h"

#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include <chrono>
#include <memory>

#include "ravnest/common/error.h"
#include "ravnest/node/node.h"
#include "ravnest/node/submodel_file.h"

namespace py = pybind11;

namespace {

/// Named tensors as a Python dict, name -> tensor. Needs the GIL.
py::dict asDict(const std::vector<ravnest::NamedTensor>& tensors) {
  py::dict result;
  for (const auto& named : tensors) result[py::str(named.name)] = named.tensor;
  return result;
}

/// The optimizer, leaf and checkpoint hooks of a node, implemented by one Python object with the methods
/// optimizer_step, zero_grad, optimizer_state, loss, evaluate_batch, end_evaluation and checkpoint (see ravnest/node.py); its lr_step goes
/// through LrStep.
class PythonHooks final : public ravnest::OptimizerHook, public ravnest::LeafHook, public ravnest::CheckpointHook {
 public:
  /// The node's hooks: those `target` has methods for.
  static ravnest::NodeHooks asNodeHooks(py::object target) {
    auto hooks = std::make_shared<PythonHooks>(target);
    ravnest::NodeHooks result;
    if (py::hasattr(target, "optimizer_step")) result.optimizer = hooks;
    if (py::hasattr(target, "lr_step")) result.lrScheduler = std::make_shared<LrStep>(hooks);
    if (py::hasattr(target, "loss")) result.leaf = hooks;
    if (py::hasattr(target, "checkpoint")) result.checkpoint = hooks;
    return result;
  }

  explicit PythonHooks(py::object target) : target_(std::move(target)) {}
  ~PythonHooks() override {
    py::gil_scoped_acquire gil;
    target_ = py::object();
  }

  void step() override { call("optimizer_step"); }
  void zeroGrad() override { call("zero_grad"); }
  std::vector<ravnest::NamedTensor> stateTensors() override {
    std::vector<ravnest::NamedTensor> result;
    call("optimizer_state", [&](py::object method) {
      for (const auto& [name, tensor] : method().cast<py::dict>()) {
        result.push_back({name.cast<std::string>(), tensor.cast<at::Tensor>()});
      }
    });
    return result;
  }
  at::Tensor loss(const std::vector<ravnest::NamedTensor>& modelOutput, const ravnest::MicroBatchInfo& info) override {
    at::Tensor result;
    call("loss", [&](py::object method) {
      result = method(asDict(modelOutput), info.epoch, info.batch).cast<at::Tensor>();
    });
    return result;
  }
  void evaluateBatch(const std::vector<ravnest::NamedTensor>& modelOutput,
                     const ravnest::MicroBatchInfo& info) override {
    call("evaluate_batch", [&](py::object method) { method(asDict(modelOutput), info.epoch); });
  }
  void endEvaluation() override { call("end_evaluation"); }
  void snapshot(int64_t epoch, uint64_t backwardPasses) override {
    call("checkpoint", [&](py::object method) { method(epoch, backwardPasses); });
  }

 private:
  /// The scheduler's step(), kept apart because the optimizer's has the same C++ name.
  class LrStep final : public ravnest::LrSchedulerHook {
   public:
    explicit LrStep(std::shared_ptr<PythonHooks> hooks) : hooks_(std::move(hooks)) {}
    void step() override { hooks_->call("lr_step"); }

   private:
    std::shared_ptr<PythonHooks> hooks_;
  };

  void call(const char* name) {
    call(name, [](py::object method) { method(); });
  }

  template <typename Body>
  void call(const char* name, Body&& body) {
    HookGil gil;
    try {
      body(target_.attr(name));
    } catch (py::error_already_set& e) {
      throw ravnest::Error("the user's " + std::string(name) + " hook raised " + e.what());
    } catch (const py::cast_error& e) {
      throw ravnest::Error("the user's " + std::string(name) + " hook returned the wrong type: " + e.what());
    }
  }

  py::object target_;
};

/// Deletes a node with the GIL released: its compute thread may be waiting for the GIL in a hook.
struct ReleaseGilDeleter {
  void operator()(ravnest::Node* node) const {
    py::gil_scoped_release released;
    delete node;
  }
};

std::vector<ravnest::NamedTensor> namedTensors(const py::dict& tensors) {
  std::vector<ravnest::NamedTensor> result;
  for (const auto& [name, tensor] : tensors) {
    result.push_back({py::cast<std::string>(name), py::cast<at::Tensor>(tensor)});
  }
  return result;
}

std::chrono::milliseconds seconds(double value) {
  RAVNEST_CHECK(value > 0, "timeouts must be positive, got ", value);
  return std::chrono::milliseconds(static_cast<int64_t>(value * 1000));
}

py::list namedList(const std::vector<std::pair<std::string, at::Tensor>>& named) {
  py::list result;
  for (const auto& [name, tensor] : named) result.append(py::make_tuple(name, tensor));
  return result;
}

/// A metrics snapshot as a dict: every named figure, and "peers": {peer: {address, bytes_sent, bytes_received}}.
py::dict metricsDict(const ravnest::NodeMetricsSnapshot& snapshot) {
  py::dict result;
  for (const auto& [name, value] : snapshot.figures) result[py::str(name)] = value;
  py::dict peers;
  for (const auto& peer : snapshot.peers) {
    py::dict entry;
    entry["address"] = peer.address;
    entry["bytes_sent"] = peer.bytesSent;
    entry["bytes_received"] = peer.bytesReceived;
    peers[py::str(peer.name.empty() ? peer.address : peer.name)] = entry;
  }
  result["peers"] = peers;
  return result;
}

}  // namespace

void bindNode(py::module_& m) {
  using ravnest::Node;
  m.def("node_option_defaults", &nodeOptionDefaults,
        "{keyword: default} of the options _C.Node takes (the C++ NodeOptions defaults).");
  py::class_<Node, std::unique_ptr<Node, ReleaseGilDeleter>>(
      m, "Node", "One provider of a pipeline cluster (the C++ runtime behind ravnest.Node).")
      .def(py::init([](const std::string& configPath, const py::kwargs& options) {
             auto nodeOptions = nodeOptionsFrom(options);
             py::gil_scoped_release released;
             return std::unique_ptr<Node, ReleaseGilDeleter>(new Node(configPath, std::move(nodeOptions)));
           }),
           py::arg("config_path"),
           "Loads the node JSON, its routing and its stage, and starts listening.")
      .def("agree_on_resume", &Node::agreeOnResume, py::call_guard<py::gil_scoped_release>(),
           "resume=True, before start: the newest checkpoint (backward-pass count) every node of the job holds.")
      .def(
          "resume_at",
          [](Node& node, int64_t epoch, uint64_t backwardPasses) { node.resumeAt({epoch, backwardPasses}); },
          py::arg("epoch"), py::arg("backward_passes"), "Before start: where the restored checkpoint stands.")
      .def(
          "start",
          [](Node& node, py::object hooks) {
            auto nodeHooks = PythonHooks::asNodeHooks(std::move(hooks));
            py::gil_scoped_release released;
            node.start(std::move(nodeHooks));
          },
          py::arg("hooks"), "Starts the compute thread with the hooks object (see ravnest/node.py).")
      .def(
          "forward_compute",
          [](Node& node, const py::dict& inputs, int64_t epoch, int64_t batch) {
            auto tensors = namedTensors(inputs);
            py::gil_scoped_release released;
            node.forwardCompute(std::move(tensors), epoch, batch);
          },
          py::arg("inputs"), py::arg("epoch"), py::arg("batch"),
          "Root: feeds a training micro-batch (model inputs by graph name), the `batch`-th of its epoch.")
      .def(
          "evaluate_batch",
          [](Node& node, const py::dict& inputs, int64_t epoch) {
            auto tensors = namedTensors(inputs);
            py::gil_scoped_release released;
            node.evaluateBatch(std::move(tensors), epoch);
          },
          py::arg("inputs"), py::arg("epoch"), "Root: feeds a validation micro-batch.")
      .def(
          "predict",
          [](Node& node, const py::dict& inputs, int64_t epoch) {
            auto tensors = namedTensors(inputs);
            std::vector<ravnest::NamedTensor> output;
            {
              py::gil_scoped_release released;
              output = node.predict(std::move(tensors), epoch);
            }
            return asDict(output);
          },
          py::arg("inputs"), py::arg("epoch"),
          "Root: runs a micro-batch without gradients; returns the model-output values by graph name.")
      .def("end_evaluation", &Node::endEvaluation, py::arg("epoch"), py::call_guard<py::gil_scoped_release>())
      .def("wait_for_backwards", &Node::waitForBackwards, py::call_guard<py::gil_scoped_release>())
      .def("finish_training", &Node::finishTraining, py::arg("save"), py::call_guard<py::gil_scoped_release>())
      .def(
          "wait_until_stopped",
          [](Node& node, double timeout) {
            const auto wait = seconds(timeout);
            py::gil_scoped_release released;
            return node.waitUntilStopped(wait);
          },
          py::arg("timeout"), "Waits for the shutdown; True once stopped. Raises the node's failure.")
      .def(
          "wait_for_compute_thread",
          [](Node& node, double timeout) {
            const auto wait = seconds(timeout);
            py::gil_scoped_release released;
            return node.waitForComputeThread(wait);
          },
          py::arg("timeout"), "Waits for the compute thread to end, whatever the reason; True once it ended.")
      .def("stop", &Node::stop, py::arg("reason"), py::call_guard<py::gil_scoped_release>(),
           "Stops this node and the rest of its cluster as a failure would; waiting calls raise.")
      .def_property_readonly("progress",
                             [](const Node& node) {
                               const auto progress = node.progress();
                               return py::make_tuple(progress.epoch, progress.backwardPasses);
                             },
                             "(epoch, backward passes) of the compute thread once it ended; before, where it "
                             "resumed from.")
      .def_property_readonly("save_requested", &Node::saveRequested)
      .def_property_readonly("stopped_between_steps", &Node::stoppedBetweenSteps,
                             "Once the compute thread ended: False when a failure interrupted an optimizer step "
                             "or an average (no checkpoint may be taken of that state).")
      .def_property_readonly("cluster_averages", &Node::clusterAverages)
      .def_property_readonly("refused_requests", &Node::refusedRequests,
                             "Calls refused for a missing or wrong job token since start.")
      .def_property_readonly("rejected_messages", &Node::rejectedMessages,
                             "Messages rejected since start: malformed, from a sender that may not send them, "
                             "NaN or Inf, repeated micro-batch ids.")
      .def(
          "metrics", [](const Node& node) { return metricsDict(node.metrics()); },
          "The node's figures so far (forward_passes, backward_passes, samples, optimizer_steps, epoch, "
          "stashed_versions, stashed_bytes, all_reduces, all_reduce_seconds, ...) and 'peers': bytes per peer.")
      .def("named_parameters", [](Node& node) { return namedList(node.stage().namedParameters()); })
      .def("named_buffers", [](Node& node) { return namedList(node.stage().namedBuffers()); })
      .def_property_readonly("stashed_versions",
                             [](Node& node) { return node.stage().weightStash().stashedVersions(); })
      .def_property_readonly("name", [](const Node& node) { return node.config().name(); })
      .def_property_readonly("node_id", [](const Node& node) { return node.config().nodeId; })
      .def_property_readonly("rank", [](const Node& node) { return node.config().rank; })
      .def_property_readonly("ring_size", [](const Node& node) { return node.config().ringSize; })
      .def_property_readonly("is_root", [](const Node& node) { return node.config().isRoot; })
      .def_property_readonly("is_leaf", [](const Node& node) { return node.config().isLeaf; })
      .def_property_readonly("stage_index", [](const Node& node) { return node.config().stageIndex; })
      .def_property_readonly("cluster_length", [](const Node& node) { return node.config().clusterLength; })
      .def_property_readonly("routing_path", [](const Node& node) { return node.config().routingPath(); })
      .def_property_readonly("port", &Node::port)
      .def("save_submodel", &ravnest::saveSubmodel, py::arg("folder"), py::call_guard<py::gil_scoped_release>(),
           "Saves the stage to <folder>/cluster_<rank>/submod_<stage index>.pt (torch.save's format); returns the "
           "path.");
}
