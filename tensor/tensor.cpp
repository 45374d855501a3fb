#include "flowgrad/tensor/tensor.h"

#include <cstring>

#include "tensor/backend.h"
#include "flowgrad/tensor/counters.h"
#include "flowgrad/tensor/ops.h"

namespace fg {

Storage::Storage(size_t n, Device d) : bytes(n), device(d), backend(&backend_of(d)) {
  data = backend->allocate(n == 0 ? 1 : n);
  count_alloc(static_cast<int64_t>(n));
}

Storage::~Storage() {
  backend->deallocate(data, bytes == 0 ? 1 : bytes);
  count_free(static_cast<int64_t>(bytes));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (auto d : shape) FG_CHECK(d >= 0, "empty: negative dimension in shape {}", shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(fg::numel(shape) * dtype_size(dtype), device);
  return t;
}

int64_t Tensor::size(int64_t d) const { return shape_[normalize_dim(d, shape_.size(), "size")]; }

Device Tensor::device() const { return storage_ ? storage_->device : Device::cpu(); }

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expect) return false;
    expect *= shape_[i];
  }
  return true;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(shape_, dtype_, device());
  copy_into(*this, out);
  return out;
}

Tensor Tensor::view(const Shape& shape, const std::vector<int64_t>& strides, int64_t offset) const {
  FG_CHECK(shape.size() == strides.size(), "view: {} dims but {} strides", shape.size(), strides.size());
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = strides;
  t.offset_ = offset;
  return t;
}

void* Tensor::raw() const {
  FG_CHECK(defined(), "access to an undefined tensor");
  return static_cast<char*>(storage_->data) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

void Tensor::check_access(DType want) const {
  FG_CHECK(defined(), "data: undefined tensor");
  FG_CHECK(want == dtype_, "data: tensor is {} but {} was requested", dtype_name(dtype_), dtype_name(want));
  FG_CHECK(device().is_cpu(), "data: tensor is on {}; move it to the cpu first", device().str());
  FG_CHECK(is_contiguous(), "data: tensor {} is a strided view; call contiguous() first", shape_str(shape_));
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      FG_CHECK(infer < 0, "reshape: more than one -1 in {}", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      FG_CHECK(s[i] >= 0, "reshape: negative dimension in {}", shape_str(shape));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    FG_CHECK(known > 0 && numel() % known == 0, "reshape: cannot reshape {} into {}", shape_str(shape_),
             shape_str(shape));
    s[infer] = numel() / known;
  }
  FG_CHECK(fg::numel(s) == numel(), "reshape: cannot reshape {} ({} elements) into {} ({} elements)",
           shape_str(shape_), numel(), shape_str(s), fg::numel(s));
  std::vector<int64_t> st;
  if (view_strides(shape_, strides_, s, st)) return view(s, st, offset_);
  return contiguous().reshape(s);
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor src = contiguous();
  Tensor out = empty(shape_, dtype_, device);
  if (src.device().is_cpu()) {
    launch(device).copy_from_host(out.raw(), src.raw(), nbytes());
  } else if (device.is_cpu()) {
    launch(src.device()).copy_to_host(out.raw(), src.raw(), nbytes());
  } else {
    return src.to(Device::cpu()).to(device);
  }
  return out;
}

Tensor Tensor::to(DType dtype) const { return dtype == dtype_ ? *this : cast(*this, dtype); }

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, dtype_, device());
  copy_into(*this, out);
  return out;
}

double Tensor::item() const {
  FG_CHECK(numel() == 1, "item: tensor of shape {} has {} elements, expected 1", shape_str(shape_), numel());
  return to_vector<double>()[0];
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  count_host_read();
  Tensor h = to(Device::cpu()).to(dtype_of<T>::value).contiguous();
  const T* p = h.data<T>();
  return std::vector<T>(p, p + h.numel());
}

template <class T>
Tensor from_vector(const std::vector<T>& v, const Shape& shape, Device device) {
  FG_CHECK(static_cast<int64_t>(v.size()) == fg::numel(shape), "from_vector: {} values for shape {}", v.size(),
           shape_str(shape));
  Tensor t = Tensor::empty(shape, dtype_of<T>::value, Device::cpu());
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(T));
  return t.to(device);
}

#define FG_INST(T)                                          \
  template std::vector<T> Tensor::to_vector<T>() const;     \
  template Tensor from_vector<T>(const std::vector<T>&, const Shape&, Device);
FG_INST(float)
FG_INST(double)
FG_INST(int32_t)
FG_INST(uint8_t)
#undef FG_INST

}  // namespace fg
