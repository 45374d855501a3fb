// Plan caches for backends (oneDNN primitives now, cuDNN descriptors and algorithms next). A key is
// derived from a params struct itself: its bytes (every field is 8 bytes, so there is no padding
// to leave unset), a variant tag (e.g. with or without bias) and the thread count. A field added to
// a params struct is therefore part of the key without any edit here.
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <type_traits>
#include <unordered_map>

namespace fg {

struct PlanKey {
  static constexpr size_t kWords = 24;
  std::array<uint64_t, kWords> words{};
  bool operator==(const PlanKey& o) const { return words == o.words; }
};

template <class P>
PlanKey plan_key(const P& p, int64_t variant = 0, int64_t threads = 0) {
  static_assert(std::is_trivially_copyable_v<P> && alignof(P) == 8 && sizeof(P) % 8 == 0,
                "plan keys need params structs of 8-byte fields");
  static_assert(sizeof(P) / 8 + 2 <= PlanKey::kWords, "params struct too large for a plan key");
  PlanKey k;
  std::memcpy(k.words.data(), &p, sizeof(P));
  k.words[sizeof(P) / 8] = static_cast<uint64_t>(variant);
  k.words[sizeof(P) / 8 + 1] = static_cast<uint64_t>(threads);
  return k;
}

struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the words
    for (uint64_t v : k.words) {
      h ^= v;
      h *= 1099511628211ull;
      h ^= h >> 29;
    }
    return static_cast<size_t>(h);
  }
};

// Plans by key. get() builds a plan on a miss; a build that throws (an unsupported case) is cached
// as nullptr so it is not retried, and the caller falls back to another kernel.
template <class Plan>
class PlanCache {
 public:
  template <class Build>
  std::shared_ptr<Plan> get(const PlanKey& key, Build&& build) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) return it->second;
    std::shared_ptr<Plan> plan;
    try {
      plan = build();
    } catch (const std::exception&) {
      plan = nullptr;
    }
    if (map_.size() >= kMaxPlans) map_.clear();  // shared_ptr keeps in-flight plans alive
    map_.emplace(key, plan);
    return plan;
  }

 private:
  static constexpr size_t kMaxPlans = 512;
  std::mutex mu_;
  std::unordered_map<PlanKey, std::shared_ptr<Plan>, PlanKeyHash> map_;
};

}  // namespace fg
