#include "node/micro_batch_meta.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "node/failure.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

constexpr const char* kMetaName = "ravnest.meta";
constexpr const char* kAbortName = "ravnest.abort";
constexpr const char* kAbortTypeName = "ravnest.abort_type";
constexpr const char* kFarewellName = "ravnest.farewell";
constexpr int64_t kMetaFields = 5;

}  // namespace

void attachMeta(Message& message, const MicroBatchMeta& meta) {
  at::Tensor fields = at::empty({kMetaFields}, at::kLong);
  fields[0] = static_cast<int64_t>(meta.kind);
  fields[1] = meta.epoch;
  fields[2] = meta.save ? 1 : 0;
  fields[3] = meta.batch;
  fields[4] = static_cast<int64_t>(meta.checkpointAt);
  message.tensors.push_back({kMetaName, fields});
}

bool isMetaTensor(const NamedTensor& named) { return named.name == kMetaName; }

MicroBatchMeta takeMeta(Message& message) {
  auto found = std::find_if(message.tensors.begin(), message.tensors.end(), isMetaTensor);
  RAVNEST_CHECK_AS(ProtocolError, found != message.tensors.end(), "a message from ", message.sender,
                   " lacks its micro-batch header: every node must run the same ravnest version");
  const at::Tensor fields = found->tensor.to(at::kLong).contiguous();
  RAVNEST_CHECK_AS(ProtocolError, fields.numel() == kMetaFields, "a message from ", message.sender,
                   " has a malformed micro-batch header");
  const int64_t* values = fields.data_ptr<int64_t>();
  RAVNEST_CHECK_AS(ProtocolError, values[0] >= 0 && values[0] <= static_cast<int64_t>(StreamKind::kPrediction),
                   "a message from ", message.sender, " has an unknown kind ", values[0]);
  RAVNEST_CHECK_AS(ProtocolError, values[4] >= 0, "a message from ", message.sender,
                   " has a negative checkpoint count ", values[4]);
  MicroBatchMeta meta{static_cast<StreamKind>(values[0]), values[1], values[2] != 0, values[3],
                      static_cast<uint64_t>(values[4])};
  message.tensors.erase(found);
  return meta;
}

Message abortMessage(const std::exception_ptr& failure) {
  const std::string reason = failureMessageOf(failure);
  Message message;
  message.kind = MessageKind::kControl;
  at::Tensor bytes = at::empty({static_cast<int64_t>(reason.size())}, at::kByte);
  std::copy(reason.begin(), reason.end(), bytes.data_ptr<uint8_t>());
  message.tensors.push_back({kAbortName, bytes});
  message.tensors.push_back({kAbortTypeName, at::full({1}, static_cast<int64_t>(failureTypeOf(failure)), at::kLong)});
  return message;
}

Message farewellMessage() {
  Message message;
  message.kind = MessageKind::kControl;
  message.tensors.push_back({kFarewellName, at::zeros({0}, at::kByte)});
  return message;
}

bool isFarewell(const Message& message) {
  return message.kind == MessageKind::kControl && message.tensors.size() == 1 &&
         message.tensors[0].name == kFarewellName;
}

std::exception_ptr abortFailure(const Message& message, const std::string& nodeName) {
  RAVNEST_CHECK_AS(ProtocolError,
                   message.tensors.size() == 2 && message.tensors[0].name == kAbortName &&
                       message.tensors[1].name == kAbortTypeName && message.tensors[1].tensor.numel() == 1,
                   "an unknown control message came from ", message.sender);
  const at::Tensor bytes = message.tensors[0].tensor.to(at::kByte).contiguous();
  const auto* begin = bytes.data_ptr<uint8_t>();
  const int64_t type = message.tensors[1].tensor.to(at::kLong).item<int64_t>();
  const bool known = type >= 0 && type <= static_cast<int64_t>(FailureType::kLast);
  return makeFailure(known ? static_cast<FailureType>(type) : FailureType::kError,
                     nodeName + ": stopping because " + std::string(begin, begin + bytes.numel()));
}

}  // namespace ravnest::detail
