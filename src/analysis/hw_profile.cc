// analysis/hw_profile.cc: roof lookups and the built-in devices (include/mnemo/hw_profile.h).
#include <algorithm>
#include <cmath>
#include <map>

#include "mnemo/hw_profile.h"
#include "mnemo/util.h"

namespace mnemo {
namespace {

// y at x on the polyline through `pts` (sorted by x, distinct x): linear between points, the end
// values outside them.
double interpolate(const std::vector<std::pair<double, double>>& pts, double x) {
  if (x <= pts.front().first) return pts.front().second;
  if (x >= pts.back().first) return pts.back().second;
  for (size_t i = 1; i < pts.size(); ++i) {
    if (x <= pts[i].first) {
      const auto [x0, y0] = pts[i - 1];
      const auto [x1, y1] = pts[i];
      return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
    }
  }
  return pts.back().second;
}

// The value at `threads` of a quantity known per thread count (`by_threads`: count -> value, 0 for
// the device as a whole, which wins when present).
double at_threads(const std::map<int, double>& by_threads, int threads) {
  if (auto it = by_threads.find(0); it != by_threads.end()) return it->second;
  std::vector<std::pair<double, double>> pts(by_threads.begin(), by_threads.end());
  return interpolate(pts, static_cast<double>(threads));
}

}  // namespace

Expected<double> HardwareProfile::bandwidth_gb_s(int threads, const std::string& kind) const {
  auto has = [&](const std::string& k) {
    return std::any_of(bandwidth.begin(), bandwidth.end(), [&](const BandwidthFigure& b) { return b.kind == k; });
  };
  const std::string use = !kind.empty() && has(kind) ? kind : "";
  if (!has(use)) return invalid_argument("hardware profile '" + name + "': no bandwidth figure");
  std::map<int, double> by_threads;
  for (const BandwidthFigure& b : bandwidth) {
    if (b.kind == use) by_threads[b.threads] = std::max(by_threads[b.threads], b.gb_s);
  }
  return at_threads(by_threads, std::max(1, threads));
}

Expected<double> HardwareProfile::compute_gflop_s(const std::string& kind, int64_t batch, int threads) const {
  auto has = [&](const std::string& k) {
    return std::any_of(compute.begin(), compute.end(), [&](const ComputeFigure& c) { return c.kind == k; });
  };
  const std::string use = has(kind) ? kind : "*";
  if (!has(use)) {
    return invalid_argument(str_printf("hardware profile '%s': no compute figure for '%s' (and no '*' figure); "
                                       "measure it with mnemo hw --types",
                                       name.c_str(), kind.c_str()));
  }
  // thread count -> (log batch -> GFLOP/s)
  std::map<int, std::map<double, double>> curves;
  for (const ComputeFigure& c : compute) {
    if (c.kind != use) continue;
    double& v = curves[c.threads][std::log(static_cast<double>(std::max<int64_t>(1, c.batch)))];
    v = std::max(v, c.gflop_s);
  }
  const double lb = std::log(static_cast<double>(std::max<int64_t>(1, batch)));
  std::map<int, double> by_threads;
  for (const auto& [t, curve] : curves) {
    std::vector<std::pair<double, double>> pts(curve.begin(), curve.end());
    by_threads[t] = interpolate(pts, lb);
  }
  return at_threads(by_threads, std::max(1, threads));
}

const std::vector<HardwareProfile>& builtin_hardware_profiles() {
  static const std::vector<HardwareProfile> profiles = [] {
    std::vector<HardwareProfile> v;
    {
      HardwareProfile p;
      p.name = "a100-80gb";
      p.source = "NVIDIA A100 80GB SXM; bandwidth and tensor peaks as in LLM-Viewer's hardwares/hardware_params.py "
                 "(nvidia_A100_80G: 2039 GB/s, FP16 312 TFLOP/s, INT8 624 TOP/s, dense)";
      p.notes = "f32 and vector: 19.5 TFLOP/s of the FP32 CUDA cores [recalled: NVIDIA A100 datasheet]. q8_0 and "
                "q4_0 take the INT8 peak, as LLM-Viewer does when weights and activations are 8-bit or less (mnemo's "
                "kernels multiply them with 8-bit activations); attention and other types the FP16 tensor peak.";
      p.bandwidth = {{0, 2039}};
      p.compute = {{"*", 1, 0, 312000}, {"f16", 1, 0, 312000},   {"bf16", 1, 0, 312000}, {"q8_0", 1, 0, 624000},
                   {"q4_0", 1, 0, 624000}, {"f32", 1, 0, 19500}, {"vector", 1, 0, 19500}, {"attention", 1, 0, 312000}};
      v.push_back(p);
    }
    {
      HardwareProfile p;
      p.name = "pim-gpt";
      p.source = "PIM-GPT (Wu, Wang, Lu, arXiv 2310.09385): GDDR6 DRAM-PIM chips (SK hynix AiM-like) with a MAC unit "
                 "beside every bank, and an ASIC for softmax, norms and data movement";
      p.notes = "[recalled, verify against the paper] 8 channels x 16 banks, each bank's unit 16 BF16 multiply-adds "
                "per 1 ns column access (tCCD): internal bandwidth = banks x 32 B / tCCD = 128 x 32 GB/s = 4096 "
                "GB/s; compute = 128 x 16 x 2 flop x 1 GHz = 4096 GFLOP/s, a ridge of 1 flop/byte. Every kind "
                "uses the BF16 MAC rate (PIM-GPT runs BF16 weights; quantized types are charged their stored "
                "bytes at the same rate).";
      p.bandwidth = {{0, 4096}};
      p.compute = {{"*", 1, 0, 4096}};
      v.push_back(p);
    }
    {
      HardwareProfile p;
      p.name = "i9-13900k";
      p.source = "Intel Core i9-13900K with DDR5; LLM-Viewer's CPU entry (89.6 GB/s, 1.38 TFLOP/s), as quoted in "
                 "the inference-memory brief section 0";
      p.notes = "Theoretical peaks: llama.cpp reaches about 70 GB/s of the 89.6 in decode (brief section 11).";
      p.bandwidth = {{0, 89.6}};
      p.compute = {{"*", 1, 0, 1380}};
      v.push_back(p);
    }
    return v;
  }();
  return profiles;
}

Expected<HardwareProfile> resolve_hardware_profile(const std::string& name_or_path) {
  std::string names;
  for (const HardwareProfile& p : builtin_hardware_profiles()) {
    if (p.name == name_or_path) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  Expected<HardwareProfile> loaded = load_hardware_profile(name_or_path);
  if (!loaded.has_value() && loaded.status().code() == StatusCode::kNotFound) {
    return not_found("--hw: expected a built-in profile (" + names + ") or a profile file, found '" + name_or_path +
                     "'");
  }
  return loaded;
}

}  // namespace mnemo
