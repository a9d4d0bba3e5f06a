#include "collectives/grpc_chunk_receiver.h"

#include <ATen/ATen.h>

namespace ravnest::detail {

void GrpcChunkReceiver::addInto(const RingTag& tag, at::Tensor& sum, const at::Tensor& addend) {
  const at::Tensor received = take(tag);
  // A segment reduced on arrival is this slice of `sums` itself, already holding addend + received.
  if (received.data_ptr() != sum.data_ptr()) at::add_out(sum, addend, received.to(sum.scalar_type()));
}

void GrpcChunkReceiver::averageInto(const RingTag& tag, at::Tensor& mean, at::Tensor& scratch, int members) {
  addInto(tag, scratch, mean);
  at::div_out(mean, scratch, members);
}

void GrpcChunkReceiver::copyInto(const RingTag& tag, at::Tensor& target) {
  target.copy_(take(tag));
}

at::Tensor GrpcChunkReceiver::take(const RingTag& tag) {
  return router_.take(ChunkKey{tag.ringId, tag.round, tag.phase, tag.step, tag.segment},
                      std::chrono::steady_clock::now() + deadline_, waitingFor_);
}

}  // namespace ravnest::detail
