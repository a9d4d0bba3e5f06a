#include "ravnest/comm/message.h"

namespace ravnest {

std::string messageKindName(MessageKind kind) {
  switch (kind) {
    case MessageKind::kActivation: return "activation";
    case MessageKind::kGradient: return "gradient";
    case MessageKind::kRingChunk: return "ring chunk";
    case MessageKind::kControl: return "control";
  }
  return "unknown";
}

}  // namespace ravnest
