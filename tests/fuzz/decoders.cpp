#include "decoders.h"

#include <stdexcept>

#include "config_decoders.h"
#include "tensor_decoders.h"

namespace ravnest::fuzz {

const std::vector<Decoder>& decoders() {
  static const std::vector<Decoder> all = {
      {"tensor_message", decodeTensorMessage},
      {"wire_header", decodeWireHeader},
      {"codec_none", decodeNoneTensor},
      {"codec_fp16", decodeFp16Tensor},
      {"codec_bf16", decodeBf16Tensor},
      {"codec_int8_blockwise", decodeInt8BlockwiseTensor},
      {"node_json", decodeNodeJson},
      {"routing_json", decodeRoutingJson},
      {"ring_plan", decodeRingPlan},
  };
  return all;
}

const Decoder& decoderNamed(const std::string& name) {
  for (const Decoder& decoder : decoders()) {
    if (decoder.name == name) return decoder;
  }
  throw std::invalid_argument("no decoder named '" + name + "'");
}

}  // namespace ravnest::fuzz
