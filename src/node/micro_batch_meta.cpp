#include "node/micro_batch_meta.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

constexpr const char* kMetaName = "ravnest.meta";
constexpr const char* kAbortName = "ravnest.abort";
constexpr int64_t kMetaFields = 3;

}  // namespace

void attachMeta(Message& message, const MicroBatchMeta& meta) {
  at::Tensor fields = at::empty({kMetaFields}, at::kLong);
  fields[0] = static_cast<int64_t>(meta.kind);
  fields[1] = meta.epoch;
  fields[2] = meta.save ? 1 : 0;
  message.tensors.push_back({kMetaName, fields});
}

MicroBatchMeta takeMeta(Message& message) {
  auto found = std::find_if(message.tensors.begin(), message.tensors.end(),
                            [](const NamedTensor& named) { return named.name == kMetaName; });
  RAVNEST_CHECK_AS(ProtocolError, found != message.tensors.end(), "a message from ", message.sender,
                   " lacks its micro-batch header: every node must run the same ravnest version");
  const at::Tensor fields = found->tensor.to(at::kLong).contiguous();
  RAVNEST_CHECK_AS(ProtocolError, fields.numel() == kMetaFields, "a message from ", message.sender,
                   " has a malformed micro-batch header");
  const int64_t* values = fields.data_ptr<int64_t>();
  RAVNEST_CHECK_AS(ProtocolError, values[0] >= 0 && values[0] <= static_cast<int64_t>(StreamKind::kPrediction),
                   "a message from ", message.sender, " has an unknown kind ", values[0]);
  MicroBatchMeta meta{static_cast<StreamKind>(values[0]), values[1], values[2] != 0};
  message.tensors.erase(found);
  return meta;
}

Message abortMessage(const std::string& reason) {
  Message message;
  message.kind = MessageKind::kControl;
  at::Tensor bytes = at::empty({static_cast<int64_t>(reason.size())}, at::kByte);
  std::copy(reason.begin(), reason.end(), bytes.data_ptr<uint8_t>());
  message.tensors.push_back({kAbortName, bytes});
  return message;
}

std::string abortReason(const Message& message) {
  RAVNEST_CHECK_AS(ProtocolError, message.tensors.size() == 1 && message.tensors[0].name == kAbortName,
                   "an unknown control message came from ", message.sender);
  const at::Tensor bytes = message.tensors[0].tensor.contiguous();
  const auto* begin = bytes.data_ptr<uint8_t>();
  return std::string(begin, begin + bytes.numel());
}

}  // namespace ravnest::detail
