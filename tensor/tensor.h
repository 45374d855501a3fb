// Tensor: a refcounted Storage plus shape, dtype and device. Always contiguous and row-major;
// reshape shares storage, every op returns a new tensor. Element access (data<T>) is CPU-only.
#pragma once
#include <memory>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/shape.h"

namespace fg {

class Backend;

// Device memory owned through the device's backend; freed when the last tensor lets go.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device;
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
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return fg::numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* raw() const;  // device pointer to the first element
  template <class T> T* data() const {
    check_access(dtype_of<T>::value);
    return static_cast<T*>(raw());
  }

  // Same storage, new shape (one dim may be -1). Throws naming both shapes if sizes differ.
  Tensor reshape(const Shape& shape) const;
  Tensor to(Device device) const;  // copy to another device (returns *this if already there)
  Tensor to(DType dtype) const;    // cast (returns *this if already that dtype)
  Tensor clone() const;
  bool shares_storage(const Tensor& o) const { return storage_ == o.storage_; }

  double item() const;  // the single element as double; throws unless numel()==1
  template <class T> std::vector<T> to_vector() const;  // copies to host, casting to T

 private:
  void check_access(DType want) const;
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::F32;
};

// Host data -> tensor on `device`. The element type picks the dtype.
template <class T>
Tensor from_vector(const std::vector<T>& v, const Shape& shape, Device device = Device::cpu());

}  // namespace fg
