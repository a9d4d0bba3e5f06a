#include "pipeline/split_backward.h"

#include <unordered_map>
#include <unordered_set>

#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

using torch::autograd::Edge;
using torch::autograd::Node;

/// For every node reachable from `roots`: whether it leads to one of `targets`. Iterative post-order, so deep
/// graphs cannot overflow the stack; the graph is a DAG, so a node's children finish before it.
struct Reach {
  std::unordered_map<Node*, bool> leads;
  std::vector<Node*> order;  // children before parents, the same order every run
};

Reach nodesLeadingTo(const torch::autograd::edge_list& roots, const std::unordered_set<Node*>& targets) {
  Reach reach;
  auto& leads = reach.leads;
  std::vector<std::pair<Node*, size_t>> stack;
  for (const auto& root : roots) {
    if (!root.is_valid() || leads.count(root.function.get())) continue;
    leads[root.function.get()] = false;
    stack.emplace_back(root.function.get(), 0);
    while (!stack.empty()) {
      auto& [node, nextEdge] = stack.back();
      if (nextEdge < node->num_outputs()) {
        const Edge& edge = node->next_edge(nextEdge++);
        if (edge.is_valid() && leads.emplace(edge.function.get(), false).second) {
          stack.emplace_back(edge.function.get(), 0);
        }
        continue;
      }
      bool reaches = targets.count(node) > 0;
      for (const auto& edge : node->next_edges()) reaches = reaches || (edge.is_valid() && leads[edge.function.get()]);
      leads[node] = reaches;
      reach.order.push_back(node);
      stack.pop_back();
    }
  }
  return reach;
}

}  // namespace

std::pair<std::vector<at::Tensor>, SplitBackward> SplitBackward::computeInputGradients(
    const std::vector<at::Tensor>& roots, const std::vector<at::Tensor>& rootGrads,
    const std::vector<at::Tensor>& inputs) {
  RAVNEST_CHECK(roots.size() == rootGrads.size(), "one gradient per root is needed, got ", rootGrads.size(),
                " for ", roots.size());
  torch::autograd::edge_list rootEdges;
  std::vector<at::Tensor> grads;
  for (size_t i = 0; i < roots.size(); ++i) {
    if (!rootGrads[i].defined() || !roots[i].requires_grad()) continue;
    rootEdges.push_back(torch::autograd::impl::gradient_edge(roots[i]));
    grads.push_back(rootGrads[i].to(roots[i].device(), roots[i].scalar_type()));
  }
  torch::autograd::edge_list inputEdges;
  std::vector<size_t> inputIndex;
  std::unordered_set<Node*> inputNodes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    inputEdges.push_back(torch::autograd::impl::gradient_edge(inputs[i]));
    inputIndex.push_back(i);
    inputNodes.insert(inputEdges.back().function.get());
  }
  const Reach reach = nodesLeadingTo(rootEdges, inputNodes);
  const auto& leads = reach.leads;
  const auto leadsToInputs = [&](const Edge& edge) {
    auto found = leads.find(edge.function.get());
    return found != leads.end() && found->second;
  };

  SplitBackward split;
  torch::autograd::edge_list captures;  // the inputs of the nodes that feed both paths
  for (Node* node : reach.order) {
    if (!leads.at(node) || inputNodes.count(node)) continue;
    std::vector<size_t> toCut;
    bool feedsWeights = false;
    for (size_t i = 0; i < node->num_outputs(); ++i) {
      const Edge& edge = node->next_edge(i);
      if (!edge.is_valid()) continue;
      if (leadsToInputs(edge)) {
        toCut.push_back(i);
      } else {
        feedsWeights = true;
      }
    }
    if (!feedsWeights) continue;
    const auto shared = node->shared_from_this();
    for (size_t i : toCut) split.inputEdgesOfWeightNodes_.push_back({shared, i});
    for (uint32_t i = 0; i < node->num_inputs(); ++i) captures.emplace_back(shared, i);
  }
  for (size_t i = 0; i < rootEdges.size(); ++i) {
    if (leadsToInputs(rootEdges[i])) continue;
    split.weightRoots_.push_back(rootEdges[i]);
    split.weightRootGrads_.push_back(grads[i]);
  }

  std::vector<at::Tensor> inputGrads(inputs.size());
  if (split.weightRoots_.size() == rootEdges.size()) {  // nothing leads to an input: all of it is W
    return {std::move(inputGrads), std::move(split)};
  }
  torch::autograd::edge_list outputs = inputEdges;
  outputs.insert(outputs.end(), captures.begin(), captures.end());
  auto& engine = torch::autograd::Engine::get_default_engine();
  const auto captured = engine.execute(rootEdges, grads, /*keep_graph=*/true, /*create_graph=*/false,
                                       /*accumulate_grad=*/false, outputs);
  for (size_t i = 0; i < inputEdges.size(); ++i) inputGrads[inputIndex[i]] = captured[i];
  for (size_t i = 0; i < captures.size(); ++i) {
    const at::Tensor& grad = captured[inputEdges.size() + i];
    if (!grad.defined()) continue;
    split.weightRoots_.push_back(captures[i]);
    split.weightRootGrads_.push_back(grad);
  }
  return {std::move(inputGrads), std::move(split)};
}

void SplitBackward::computeWeightGradients() {
  if (weightRoots_.empty()) return;
  // B is done, so the edges towards the inputs are not needed any more: cut, the nodes skip those gradients.
  // Written in place: set_next_edge() refuses nodes that have a parent, to protect topological numbers, which
  // removing an edge cannot break.
  for (const auto& cut : inputEdgesOfWeightNodes_) const_cast<Edge&>(cut.node->next_edge(cut.index)) = Edge();
  auto& engine = torch::autograd::Engine::get_default_engine();
  engine.execute(weightRoots_, weightRootGrads_, /*keep_graph=*/false, /*create_graph=*/false,
                 /*accumulate_grad=*/true, /*outputs=*/{});
  weightRoots_.clear();
  weightRootGrads_.clear();
  inputEdgesOfWeightNodes_.clear();
}

}  // namespace ravnest::detail
