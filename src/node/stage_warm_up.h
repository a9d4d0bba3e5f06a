#pragma once

#include <string>

#include "ravnest/config/stage_routing.h"
#include "ravnest/pipeline/stage.h"

namespace ravnest::detail {

/// Runs `stage` once on zeros shaped like the example input clusterize traced (Stage::warmUp), when the node
/// starts: the one-time costs of the first calls are then paid while the other providers start, instead of by
/// the first micro-batch on each stage in turn. It saves and restores the process's default random-number
/// generators, so nothing else may draw from them meanwhile: call it before the node's threads start. Skipped when the routing does
/// not give every input's dtype and shape. A failure is logged at debug level and otherwise ignored: training
/// does not depend on it, and a model may refuse zeros.
void warmUpStage(Stage& stage, const StageRouting& routing, const std::string& node);

}  // namespace ravnest::detail
