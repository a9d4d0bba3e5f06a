#pragma once

#include <chrono>
#include <string>

#include "collectives/chunk_channels.h"
#include "collectives/chunk_router.h"

namespace ravnest::detail {

/// Takes one ring round's segments from the node's kRingChunk inbox (the transport under TLS). Reduce-scatter
/// segments of the running round may already have been added into `sum` while they arrived (ArrivalRegistry).
class GrpcChunkReceiver final : public ChunkReceiver {
 public:
  GrpcChunkReceiver(ChunkRouter& router, std::chrono::milliseconds deadline, std::string waitingFor)
      : router_(router), deadline_(deadline), waitingFor_(std::move(waitingFor)) {}

  void addInto(const RingTag& tag, at::Tensor& sum, const at::Tensor& addend) override;
  void averageInto(const RingTag& tag, at::Tensor& mean, at::Tensor& scratch, int members) override;
  void copyInto(const RingTag& tag, at::Tensor& target) override;

 private:
  at::Tensor take(const RingTag& tag);

  ChunkRouter& router_;
  const std::chrono::milliseconds deadline_;
  const std::string waitingFor_;
};

}  // namespace ravnest::detail
