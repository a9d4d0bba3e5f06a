#pragma once

#include <grpcpp/support/slice.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ravnest::detail {

/// Reads a frame's bytes in order across the slices gRPC delivered it in, without joining them.
class SliceReader {
 public:
  explicit SliceReader(std::vector<grpc::Slice> slices) : slices_(std::move(slices)) {}

  /// Copies the next `size` bytes into `destination`. False (and nothing consumed) if fewer remain.
  bool read(void* destination, size_t size);

  /// Bytes not read yet.
  size_t remaining() const;

  /// Calls `visit(data, size)` for each unread run of bytes, in order, and consumes them all.
  template <typename Visitor>
  void drain(Visitor&& visit) {
    for (; slice_ < slices_.size(); ++slice_, offset_ = 0) {
      const grpc::Slice& slice = slices_[slice_];
      if (offset_ < slice.size()) visit(slice.begin() + offset_, slice.size() - offset_);
    }
  }

 private:
  std::vector<grpc::Slice> slices_;
  size_t slice_ = 0;
  size_t offset_ = 0;
};

}  // namespace ravnest::detail
