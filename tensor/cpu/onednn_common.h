// oneDNN 2.6 plumbing shared by the CPU f32 fast paths (onednn_{matmul,conv,layer_norm}.cpp):
// one cpu engine and stream, FG_DNNL_CHECK (dnnl::error -> fg::Error with file/line), plan caches
// (tensor/plan_cache.h), and Arg: a user buffer in a plain layout plus,
// when the primitive picked another layout, a plan-owned buffer and the cached reorder between them.
// Thread-safety: the cache has a mutex; plan execution is serialized by exec_mutex() because plans
// own their reorder buffers and oneDNN parallelizes each primitive itself (OpenMP).
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "flowgrad/tensor/error.h"
#include "tensor/plan_cache.h"

namespace fg::cpu::onednn {

dnnl::engine& engine();
dnnl::stream& stream();
std::mutex& exec_mutex();
// Part of every plan key: some oneDNN implementations fix their thread partitioning when the
// primitive is created, so a plan built for one thread count is rebuilt for another.
int64_t max_threads();

[[noreturn]] void throw_dnnl_error(const dnnl::error& e, const char* what, const char* file, int line);

}  // namespace fg::cpu::onednn

// Runs a statement (or braced block); a dnnl::error becomes fg::Error naming `what` (a string
// literal, e.g. the op), oneDNN's status and message, and file:line.
#define FG_DNNL_CHECK(what, ...)                                                  \
  do {                                                                            \
    try {                                                                         \
      __VA_ARGS__;                                                                \
    } catch (const ::dnnl::error& fg_dnnl_e_) {                                   \
      ::fg::cpu::onednn::throw_dnnl_error(fg_dnnl_e_, what, __FILE__, __LINE__);  \
    }                                                                             \
  } while (0)

namespace fg::cpu::onednn {

using md = dnnl::memory::desc;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

// Plan keys and caches are the backend-neutral ones of tensor/plan_cache.h; a key is the op's
// params struct plus a variant tag and max_threads().
using fg::PlanCache;
using fg::plan_key;

// Plan-independent scratch for primitive-layout copies: slot k is one growable buffer shared by
// every plan's k-th argument. Plans run one at a time (exec_mutex), so a slot is never in use by two
// plans at once, and the memory held is a few copies of the largest activation instead of one per
// argument per cached plan. Call with exec_mutex() held.
void* scratch_slot(int slot, size_t bytes);
constexpr int kScratchSlots = 4;

// One primitive argument. `user` wraps the caller's buffer (handle set per call) in a plain
// layout; `prim` is what the primitive reads/writes: the same memory when the layouts agree,
// else a view of scratch slot `slot` with a cached reorder (user->prim for inputs, prim->user for
// outputs). Arguments of one plan must use distinct slots.
struct Arg {
  dnnl::memory user, prim;
  dnnl::reorder reorder;
  bool reordered = false;
  int slot = 0;
  size_t bytes = 0;  // of the primitive-layout copy

  Arg() = default;
  Arg(const md& user_md, const md& prim_md, bool input, int slot_) : slot(slot_) {
    user = dnnl::memory(user_md, engine(), DNNL_MEMORY_NONE);
    if (user_md == prim_md) {
      prim = user;
    } else {
      prim = dnnl::memory(prim_md, engine(), DNNL_MEMORY_NONE);
      bytes = prim_md.get_size();
      reorder = input ? dnnl::reorder(user, prim) : dnnl::reorder(prim, user);
      reordered = true;
    }
  }
  // Input: point at the caller's data and convert it into the primitive's layout.
  const dnnl::memory& in(const void* p) {
    user.set_data_handle(const_cast<void*>(p));
    if (reordered) {
      bind();
      reorder.execute(stream(), user, prim);
    }
    return prim;
  }
  // Output: point at the caller's buffer; call finish() after the primitive ran.
  const dnnl::memory& out(void* p) {
    user.set_data_handle(p);
    if (reordered) bind();
    return prim;
  }
  void finish() {
    if (reordered) reorder.execute(stream(), prim, user);
  }

 private:
  void bind() { prim.set_data_handle(scratch_slot(slot, bytes)); }
};

}  // namespace fg::cpu::onednn
