// analysis/cost_model.cc: the roofline cost model's stages, predictions and ridge batch
// (include/mnemo/roofline.h).
//
// A stage is a sequence of forward passes: prefill cuts n_tokens into passes of n_batch tokens (the
// head only on the last), decode takes n_tokens passes of one token, each after one more cached
// position. Every operation of every pass gets time max(flops / compute, bytes / bandwidth), the
// compute roof looked up for its kind at its batch (tokens per product) and the thread count; the
// stage sums them (LLM-Viewer sums its layers the same way: no overlap between operations). The
// memory roof of a matrix product is its weight type's streaming rate where the profile has one
// (mnemo's GEMV does not reach the plain read bandwidth), the general bandwidth otherwise.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "analysis/op_counts.h"
#include "mnemo/roofline.h"
#include "mnemo/util.h"

namespace mnemo {
namespace {

Status check_request(const RooflineRequest& r) {
  auto positive = [](const char* field, int64_t v, int64_t min) -> Status {
    if (v < min) {
      return out_of_range(str_printf("%s: expected %s, found %lld", field, min > 0 ? "a positive count" : "a count >= 0",
                                     static_cast<long long>(v)));
    }
    return Status::ok();
  };
  MNEMO_RETURN_IF_ERROR(positive("n_tokens", r.n_tokens, 1));
  MNEMO_RETURN_IF_ERROR(positive("n_ctx", r.n_ctx, 0));
  MNEMO_RETURN_IF_ERROR(positive("n_batch", r.n_batch, 1));
  MNEMO_RETURN_IF_ERROR(positive("n_seq", r.n_seq, 1));
  MNEMO_RETURN_IF_ERROR(positive("n_threads", r.n_threads, 1));
  if (!(r.kv_bytes_per_value > 0) || !std::isfinite(r.kv_bytes_per_value)) {
    return out_of_range(str_printf("kv_bytes_per_value: expected a positive number, found %g", r.kv_bytes_per_value));
  }
  return Status::ok();
}

// The passes of a stage, in order.
std::vector<analysis::Pass> stage_passes(const RooflineRequest& r) {
  std::vector<analysis::Pass> passes;
  analysis::Pass p;
  p.S = r.n_seq;
  p.kv_bytes = r.kv_bytes_per_value;
  if (r.stage == Stage::kPrefill) {
    for (int64_t done = 0; done < r.n_tokens; done += r.n_batch) {
      p.T = std::min(r.n_batch, r.n_tokens - done);
      p.L0 = r.n_ctx + done;
      const bool last = done + p.T == r.n_tokens;
      p.n_out = r.logits_all ? p.T * p.S : (last ? p.S : 0);
      passes.push_back(p);
    }
  } else {
    p.T = 1;
    p.n_out = p.S;
    for (int64_t i = 0; i < r.n_tokens; ++i) {
      p.L0 = r.n_ctx + i;
      passes.push_back(p);
    }
  }
  return passes;
}

// Compute roofs of one profile and thread count, looked up once per (kind, batch).
class Roofs {
 public:
  Roofs(const HardwareProfile& profile, int threads) : profile_(profile), threads_(threads) {}
  Expected<double> gflop_s(const std::string& kind, int64_t batch) {
    const auto key = std::make_pair(kind, batch);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    MNEMO_ASSIGN_OR_RETURN(double v, profile_.compute_gflop_s(kind, batch, threads_));
    cache_[key] = v;
    return v;
  }
  Expected<double> gb_s(const std::string& kind) {
    if (auto it = bw_cache_.find(kind); it != bw_cache_.end()) return it->second;
    MNEMO_ASSIGN_OR_RETURN(double v, profile_.bandwidth_gb_s(threads_, kind));
    bw_cache_[kind] = v;
    return v;
  }

 private:
  const HardwareProfile& profile_;
  int threads_;
  std::map<std::pair<std::string, int64_t>, double> cache_;
  std::map<std::string, double> bw_cache_;
};

// Adds the pass's operations to the stage's (same order; new ones appended).
void accumulate(std::vector<OpCost>& stage, const OpCost& c) {
  for (OpCost& s : stage) {
    if (s.name == c.name && s.kind == c.kind && s.per_layer == c.per_layer) {
      s.flops += c.flops;
      s.weight_bytes += c.weight_bytes;
      s.act_read_bytes += c.act_read_bytes;
      s.act_write_bytes += c.act_write_bytes;
      s.kv_read_bytes += c.kv_read_bytes;
      s.kv_write_bytes += c.kv_write_bytes;
      s.compute_seconds += c.compute_seconds;
      s.memory_seconds += c.memory_seconds;
      s.seconds += c.seconds;
      return;
    }
  }
  stage.push_back(c);
}

// The stage on `profile` (nullptr: counts only).
Expected<StageCost> run_stage(const HardwareProfile* profile, const ModelInfo& info, const RooflineRequest& r) {
  MNEMO_RETURN_IF_ERROR(check_request(r));
  MNEMO_ASSIGN_OR_RETURN(analysis::Shapes shapes, analysis::read_shapes(info));
  StageCost st;
  st.request = r;
  st.n_layer = info.n_layer;
  std::optional<Roofs> roofs;
  if (profile != nullptr) {
    st.profile = profile->name;
    MNEMO_ASSIGN_OR_RETURN(st.bandwidth_gb_s, profile->bandwidth_gb_s(r.n_threads));
    roofs.emplace(*profile, r.n_threads);
  }
  std::vector<analysis::PassOp> ops;
  for (const analysis::Pass& pass : stage_passes(r)) {
    analysis::count_pass(shapes, pass, ops);
    for (analysis::PassOp& op : ops) {
      OpCost& c = op.cost;
      if (roofs) {
        if (c.flops > 0) {
          MNEMO_ASSIGN_OR_RETURN(double roof, roofs->gflop_s(c.kind, op.batch));
          c.compute_seconds = c.flops / (roof * 1e9);
          c.gflop_s_roof = roof;
        }
        double gb_s = st.bandwidth_gb_s;
        if (op.weight_stream) {
          MNEMO_ASSIGN_OR_RETURN(gb_s, roofs->gb_s(c.kind));
        }
        c.gb_s_roof = gb_s;
        c.memory_seconds = c.bytes() / (gb_s * 1e9);
        c.seconds = std::max(c.compute_seconds, c.memory_seconds);
      }
      accumulate(st.ops, c);
    }
  }
  for (const OpCost& c : st.ops) {
    st.flops += c.flops;
    st.bytes += c.bytes();
    st.seconds += c.seconds;
  }
  const double tokens = static_cast<double>(r.n_tokens) * static_cast<double>(r.n_seq);
  st.tokens_per_s = st.seconds > 0 ? tokens / st.seconds : 0;
  return st;
}

}  // namespace

const char* stage_name(Stage stage) { return stage == Stage::kPrefill ? "prefill" : "decode"; }

double OpCost::intensity() const {
  const double b = bytes();
  return b > 0 ? flops / b : 0;
}

double StageCost::layer_seconds() const {
  double s = 0;
  for (const OpCost& c : ops) {
    if (c.per_layer) s += c.seconds;
  }
  return n_layer > 0 ? s / static_cast<double>(n_layer) : 0;
}

Expected<StageCost> count_stage(const ModelInfo& info, const RooflineRequest& request) {
  return run_stage(nullptr, info, request);
}

Expected<StageCost> analyze_stage(const HardwareProfile& profile, const ModelInfo& info, const RooflineRequest& request) {
  return run_stage(&profile, info, request);
}

Expected<Prediction> predict(const HardwareProfile& profile, const ModelInfo& info, const RooflineRequest& request) {
  MNEMO_ASSIGN_OR_RETURN(StageCost st, analyze_stage(profile, info, request));
  return Prediction{st.seconds, st.tokens_per_s};
}

Expected<Prediction> predict(const HardwareProfile& profile, const ModelInfo& info, Stage stage, int64_t n_tokens,
                             int64_t n_ctx, int n_threads) {
  RooflineRequest r;
  r.stage = stage;
  r.n_tokens = n_tokens;
  r.n_ctx = n_ctx;
  r.n_batch = std::max<int64_t>(1, n_tokens);
  r.n_threads = n_threads;
  return predict(profile, info, r);
}

Expected<int64_t> prefill_ridge_batch(const HardwareProfile& profile, const ModelInfo& info, int n_threads,
                                      int64_t max_batch) {
  if (max_batch < 1) return out_of_range(str_printf("max_batch: expected a positive count, found %lld",
                                                    static_cast<long long>(max_batch)));
  RooflineRequest r;
  r.stage = Stage::kPrefill;
  r.n_threads = n_threads;
  // Every product is compute-bound at T iff its intensity 2 T n m / (W + 4 T (n + m)) reaches its
  // roof's ridge. Intensities grow with T but the roofs change with T too, so T is scanned (1 .. 16,
  // then in steps of 1/16 of T) and the first step found is narrowed down by bisection.
  auto compute_bound = [&](int64_t T) -> Expected<bool> {
    r.n_tokens = T;
    r.n_batch = T;
    MNEMO_ASSIGN_OR_RETURN(StageCost st, analyze_stage(profile, info, r));
    for (const OpCost& c : st.ops) {
      const bool product = c.per_layer && c.kind != "vector" && c.kind != "attention";
      if (product && c.memory_bound()) return false;
    }
    return true;
  };
  int64_t below = 0;  // the last T known not to be compute-bound
  for (int64_t T = 1; T <= max_batch; T += std::max<int64_t>(1, T / 16)) {
    MNEMO_ASSIGN_OR_RETURN(bool ok, compute_bound(T));
    if (!ok) {
      below = T;
      continue;
    }
    int64_t hi = T;
    while (hi - below > 1) {
      const int64_t mid = below + (hi - below) / 2;
      MNEMO_ASSIGN_OR_RETURN(bool mid_ok, compute_bound(mid));
      (mid_ok ? hi : below) = mid;
    }
    return hi;
  }
  return int64_t{0};
}

}  // namespace mnemo
