#pragma once

#include <cstdint>
#include <string>

#include "ravnest.pb.h"

namespace ravnest::testing {

/// The header of an activation message of one uncompressed float32 tensor `x` of `elements` values, as a
/// hostile-input test writes it by hand; `sender` is the name it claims.
inline wire::MessageHeader floatHeader(int64_t elements, const std::string& sender = {}) {
  wire::MessageHeader header;
  header.set_kind(wire::ACTIVATION);
  header.set_sender(sender);
  auto* tensor = header.add_tensors();
  tensor->set_name("x");
  tensor->set_dtype(wire::FLOAT32);
  tensor->set_codec(wire::CODEC_NONE);
  tensor->add_shape(elements);
  tensor->set_byte_count(static_cast<uint64_t>(elements) * 4);
  return header;
}

}  // namespace ravnest::testing
