#include "comm/grpc/slice_reader.h"

#include <algorithm>
#include <cstring>

namespace ravnest::detail {

size_t SliceReader::remaining() const {
  size_t total = 0;
  for (size_t i = slice_; i < slices_.size(); ++i) total += slices_[i].size() - (i == slice_ ? offset_ : 0);
  return total;
}

bool SliceReader::read(void* destination, size_t size) {
  if (remaining() < size) return false;
  auto* cursor = static_cast<uint8_t*>(destination);
  while (size > 0) {
    const grpc::Slice& slice = slices_[slice_];
    const size_t length = std::min(size, slice.size() - offset_);
    std::memcpy(cursor, slice.begin() + offset_, length);
    cursor += length;
    size -= length;
    offset_ += length;
    if (offset_ == slice.size()) {
      ++slice_;
      offset_ = 0;
    }
  }
  return true;
}

}  // namespace ravnest::detail
