#include "nn/fault.h"

#include <cstdlib>
#include <string>
#include <vector>

namespace fg::nn {

namespace {
struct Spec {
  std::string name, suffix;  // suffix: only for paths ending so (file faults)
  int64_t step = -1;         // -1: any step
  bool onward = false;
};

std::vector<Spec> parse_env() {
  {
    std::vector<Spec> out;
    const char* e = std::getenv("FG_FAULT");
    if (!e) return out;
    std::string all(e);
    size_t at = 0;
    while (at <= all.size()) {
      size_t comma = all.find(',', at);
      std::string item = all.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      if (!item.empty()) {
        Spec sp;
        size_t a = item.find('@');
        sp.name = item.substr(0, a);
        if (size_t eq = sp.name.find('='); eq != std::string::npos) {
          sp.suffix = sp.name.substr(eq + 1);
          sp.name.resize(eq);
        }
        if (a != std::string::npos) {
          std::string st = item.substr(a + 1);
          sp.onward = !st.empty() && st.back() == '+';
          if (sp.onward) st.pop_back();
          sp.step = std::strtoll(st.c_str(), nullptr, 10);
        }
        out.push_back(sp);
      }
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    return out;
  }
}

std::vector<Spec>& specs() {
  static std::vector<Spec> s = parse_env();
  return s;
}
}  // namespace

void reload_faults() { specs() = parse_env(); }

bool fault_armed_for(const char* name, const std::string& path) {
  for (const Spec& sp : specs())
    if (sp.name == name && (sp.suffix.empty() || (path.size() >= sp.suffix.size() &&
                                                   path.compare(path.size() - sp.suffix.size(), sp.suffix.size(), sp.suffix) == 0)))
      return true;
  return false;
}

bool fault_armed(const char* name, int64_t step) {
  const auto& s = specs();
  if (s.empty()) return false;
  for (const Spec& sp : s) {
    if (sp.name != name) continue;
    if (sp.step < 0 || step < 0) return true;
    if (sp.onward ? step >= sp.step : step == sp.step) return true;
  }
  return false;
}

}  // namespace fg::nn
