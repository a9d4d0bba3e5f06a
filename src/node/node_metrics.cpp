#include "ravnest/node/node_metrics.h"

namespace ravnest {

void NodeMetrics::set(const std::string& name, double value) {
  std::lock_guard<std::mutex> lock(mutex_);
  figures_[name] = value;
}

void NodeMetrics::add(const std::string& name, double delta) {
  std::lock_guard<std::mutex> lock(mutex_);
  figures_[name] += delta;
}

std::map<std::string, double> NodeMetrics::figures() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return figures_;
}

}  // namespace ravnest
