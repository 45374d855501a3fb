// Tensor: a refcounted Storage plus a view of it: shape, strides and offset (in elements), dtype
// and device. slice, chunk/split, permute/transpose, expand/broadcast_to, squeeze/unsqueeze and
// (where the strides allow) reshape are views; elementwise, copy and reduction kernels walk any
// strides, and kernels that need dense memory (oneDNN, cuDNN) take contiguous() at their own
// boundary. Element access (data<T>) is CPU-only and needs a contiguous tensor.
#pragma once
#include <memory>
#include <vector>

#include "flowgrad/tensor/dtype.h"
#include "flowgrad/tensor/error.h"
#include "flowgrad/tensor/shape.h"

namespace fg {

class Backend;

// Device memory owned through the device's backend; freed when the last tensor lets go.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device;
  Backend* backend = nullptr;
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

class Tensor {
 public:
  Tensor() = default;
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return fg::numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  // Row-major with no gaps (size-1 dims may have any stride).
  bool is_contiguous() const;
  // *this when contiguous, else a contiguous copy.
  Tensor contiguous() const;
  // A view of the same storage (no checks beyond the rank; ops.h builds these).
  Tensor view(const Shape& shape, const std::vector<int64_t>& strides, int64_t offset) const;

  void* raw() const;  // device pointer to the view's first element (storage + offset)
  template <class T> T* data() const {
    check_access(dtype_of<T>::value);
    return static_cast<T*>(raw());
  }

  // A view with the new shape when the strides allow (one dim may be -1), else a contiguous copy.
  // Throws naming both shapes if the sizes differ.
  Tensor reshape(const Shape& shape) const;
  Tensor to(Device device) const;  // copy to another device (returns *this if already there)
  Tensor to(DType dtype) const;    // cast (returns *this if already that dtype)
  Tensor clone() const;            // a contiguous copy with its own storage
  bool shares_storage(const Tensor& o) const { return storage_ == o.storage_; }
  // True when no other tensor shares this storage (in-place kernels may then write it).
  bool owns_storage() const { return storage_ && storage_.use_count() == 1; }

  double item() const;  // the single element as double; throws unless numel()==1 (a host read)
  template <class T> std::vector<T> to_vector() const;  // copies to host, casting to T (a host read)

 private:
  void check_access(DType want) const;
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  std::vector<int64_t> strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::F32;
};

// Host data -> tensor on `device`. The element type picks the dtype.
template <class T>
Tensor from_vector(const std::vector<T>& v, const Shape& shape, Device device = Device::cpu());

}  // namespace fg
