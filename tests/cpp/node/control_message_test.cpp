#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "node/failure.h"
#include "node/micro_batch_meta.h"
#include "ravnest/common/error.h"

namespace ravnest::detail {
namespace {

/// What a receiving node makes of an abort that `failure` caused on its sender.
std::exception_ptr receivedAbort(std::exception_ptr failure) {
  Message message = abortMessage(failure);
  message.sender = "node_1";
  return abortFailure(message, "node_0");
}

TEST(ControlMessageTest, AnAbortKeepsTheErrorTypeAndReason) {
  const auto timeout = receivedAbort(std::make_exception_ptr(TimeoutError("node_1 stopped: peer hangs")));
  EXPECT_THROW(std::rethrow_exception(timeout), TimeoutError);
  EXPECT_EQ(failureMessageOf(timeout), "node_0: stopping because node_1 stopped: peer hangs");
  EXPECT_EQ(failureTypeOf(receivedAbort(std::make_exception_ptr(NetworkError("gone")))), FailureType::kNetwork);
  EXPECT_EQ(failureTypeOf(receivedAbort(std::make_exception_ptr(AuthenticationError("other token")))),
            FailureType::kAuthentication);
  EXPECT_EQ(failureTypeOf(receivedAbort(std::make_exception_ptr(std::runtime_error("hook")))), FailureType::kError);
}

TEST(ControlMessageTest, AFarewellIsNoAbortAndAnUnknownControlMessageIsAProtocolError) {
  EXPECT_TRUE(isFarewell(farewellMessage()));
  EXPECT_FALSE(isFarewell(abortMessage(std::make_exception_ptr(Error("x")))));
  Message unknown;
  unknown.kind = MessageKind::kControl;
  unknown.tensors.push_back({"something", at::zeros({1})});
  EXPECT_THROW(abortFailure(unknown, "node_0"), ProtocolError);
}

TEST(ControlMessageTest, TheBatchIndexTravelsWithAMicroBatch) {
  Message message;
  attachMeta(message, {StreamKind::kTrain, 3, false, 17});
  const MicroBatchMeta meta = takeMeta(message);
  EXPECT_EQ(meta.epoch, 3);
  EXPECT_EQ(meta.batch, 17);
  EXPECT_TRUE(message.tensors.empty());
}

TEST(ControlMessageTest, StoppedBecauseKeepsTheTypeAndDropsTheRepeatedName) {
  const auto failure = stoppedBecause("node_2", std::make_exception_ptr(NetworkError("node_2: send failed")));
  EXPECT_EQ(failureTypeOf(failure), FailureType::kNetwork);
  EXPECT_EQ(failureMessageOf(failure), "node_2 stopped: send failed");
}

}  // namespace
}  // namespace ravnest::detail
