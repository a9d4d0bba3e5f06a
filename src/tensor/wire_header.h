#pragma once

#include <string>

#include "ravnest.pb.h"
#include "ravnest/tensor/codec.h"

namespace ravnest::detail {

/// Fills a protobuf tensor header from a meta. Never fails: every TensorMeta built by encodeTensor maps.
void toWireHeader(const TensorMeta& meta, const std::string& name, wire::TensorHeader* header);

/// Converts a received protobuf header. Throws ProtocolError naming the field when the dtype or codec is not
/// one we know or a value is out of range; does not check sizes (validateMeta does).
TensorMeta fromWireHeader(const wire::TensorHeader& header);

}  // namespace ravnest::detail
