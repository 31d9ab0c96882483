#include "compress/model_quantizer.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>

#include "base/check.h"
#include "base/file.h"
#include "base/strings.h"
#include "compress/awq.h"
#include "compress/calibrate.h"
#include "compress/ggml_quantize.h"
#include "kernels/kernels.h"
#include "kernels/mnemo_formats.h"

namespace mnemo::compress {
namespace {

constexpr int64_t kMinCalibTokens = 1024;
constexpr int64_t kCalibRows = 512;  // sampled activation rows per layer for the AWQ search

struct GgmlName {
  const char* name;
  DType type;
  int ftype;  // llama_ftype
};
constexpr GgmlName kGgmlTypes[] = {
    {"q8_0", DType::Q8_0, 7}, {"q4_0", DType::Q4_0, 2}, {"q5_0", DType::Q5_0, 8}, {"q4_k", DType::Q4_K, 15},
    {"q6_k", DType::Q6_K, 18}, {"f16", DType::F16, 1}, {"bf16", DType::BF16, 32}, {"f32", DType::F32, 0},
};
constexpr const char* kMethodNames[mformat::kNumMethods] = {"int4-sym", "int4-asym", "fp4", "bitmod4",
                                                            "int3-sym", "int3-asym", "fp3", "bitmod3"};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

bool is_quantized_source(DType t) { return !(t == DType::F32 || t == DType::F16 || t == DType::BF16); }

int block_of(DType t) { return static_cast<int>(traits(t).block_elems); }

bool fits(DType t, int64_t n) { return n % block_of(t) == 0; }

// llama.cpp's use_more_bits (llama-quant.cpp): the first and last eighth of the layers and every
// third one between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

struct Planned {
  const gguf::TensorInfo* info = nullptr;
  bool weight = false;  // a 2-D weight that is (re)written
  DType type = DType::F32;
  std::string role;     // method, mix, fallback, embd, output, copy
  std::string note;
  const std::vector<float>* scale = nullptr;  // AWQ channel scales of this weight
  double alpha = -1;
};

}  // namespace

Expected<TypeSpec> parse_type(const std::string& type_in, int group, int64_t n_embd) {
  std::string t = lower(type_in);
  TypeSpec spec;
  for (const GgmlName& g : kGgmlTypes) {
    if (t == g.name) {
      if (group != 0) {
        return invalid_argument(str_printf("--group: only mnemo's group types take a group size (%s); %s has fixed blocks of %u",
                                           join(group_type_names()).c_str(), g.name, traits(g.type).block_elems));
      }
      spec.name = g.name;
      spec.dtype = g.type;
      spec.ftype = g.ftype;
      return spec;
    }
  }
  spec.ggml = false;
  for (char& c : t) c = c == '_' ? '-' : c;
  // Bipolar: "bipolar:W" or "bipolarW".
  if (t.rfind("bipolar", 0) == 0) {
    std::string rest = t.substr(7);
    if (!rest.empty() && rest[0] == ':') rest = rest.substr(1);
    if (rest.size() != 1 || rest[0] < '1' || rest[0] > '8') {
      return invalid_argument("--type: expected bipolar:W with W in 1..8, found '" + type_in + "'");
    }
    if (group != 0 && group != 64) {
      return invalid_argument(str_printf("--group: bipolar types have fixed blocks of 64, found %d", group));
    }
    spec.name = "bipolar:" + rest;
    spec.dtype = mformat::bipolar_dtype(rest[0] - '0');
    if (n_embd % 64 != 0) {
      return invalid_argument(str_printf("--type %s: blocks of 64 do not divide the model's rows of %lld elements",
                                         spec.name.c_str(), static_cast<long long>(n_embd)));
    }
    return spec;
  }
  // Group types, optionally with the group in the name ("bitmod4-g64").
  int named_group = 0;
  if (size_t pos = t.rfind("-g"); pos != std::string::npos && pos + 2 < t.size() &&
                                  std::all_of(t.begin() + static_cast<long>(pos) + 2, t.end(), ::isdigit)) {
    named_group = std::atoi(t.c_str() + pos + 2);
    t = t.substr(0, pos);
  }
  int method = -1;
  for (int m = 0; m < mformat::kNumMethods; ++m) {
    if (t == kMethodNames[m]) method = m;
  }
  if (method < 0) {
    return invalid_argument("--type: expected one of " + join(quantize_type_names()) + ", found '" + type_in + "'");
  }
  if (named_group != 0 && group != 0 && named_group != group) {
    return invalid_argument(str_printf("--group: %d contradicts the type name '%s'", group, type_in.c_str()));
  }
  if (named_group != 0) group = named_group;
  std::vector<std::string> dividing;
  for (int g : {32, 64, 128}) {
    if (n_embd % g == 0) dividing.push_back(std::to_string(g));
  }
  if (group == 0) {
    if (dividing.empty()) {
      return invalid_argument(str_printf("--type %s: no group size (32, 64, 128) divides the model's rows of %lld elements",
                                         kMethodNames[method], static_cast<long long>(n_embd)));
    }
    group = std::atoi(dividing.back().c_str());
  }
  if (group != 32 && group != 64 && group != 128) {
    return invalid_argument(str_printf("--group: expected 32, 64 or 128, found %d", group));
  }
  if (n_embd % group != 0) {
    return invalid_argument(str_printf("--group %d: does not divide the model's rows of %lld elements; %s", group,
                                       static_cast<long long>(n_embd),
                                       dividing.empty() ? "no group size does"
                                                        : ("group sizes that do: " + join(dividing)).c_str()));
  }
  spec.name = kMethodNames[method];
  spec.group = group;
  spec.dtype = mformat::group_dtype(static_cast<mformat::Method>(method), group);
  return spec;
}

Status quantize_source(const SourceModel& src, const QuantizeParams& p, QuantizeReport* report_out,
                       const ProgressFn& progress) {
  const gguf::GgufFile& f = *src.file;
  const LlamaConfig& c = src.config;
  const std::string& in = f.path();
  MNEMO_ASSIGN_OR_RETURN(TypeSpec spec, parse_type(p.type, p.group, c.n_embd));
  // --embd-type / --output-type: any quantize type; mnemo group types take the file's group size.
  auto side_type = [&](const std::string& flag, const std::string& name) -> Expected<DType> {
    bool ggml_name = false;
    for (const GgmlName& g : kGgmlTypes) ggml_name = ggml_name || lower(name) == g.name;
    auto s = parse_type(name, ggml_name ? 0 : spec.group, c.n_embd);
    if (!s) return invalid_argument(flag + ": " + s.status().message());
    return s->dtype;
  };
  std::optional<DType> embd_override, output_override;
  if (!p.embd_type.empty()) {
    MNEMO_ASSIGN_OR_RETURN(DType t, side_type("--embd-type", p.embd_type));
    embd_override = t;
  }
  if (!p.output_type.empty()) {
    MNEMO_ASSIGN_OR_RETURN(DType t, side_type("--output-type", p.output_type));
    output_override = t;
  }
  if (p.output.empty()) return invalid_argument("quantize: expected an output path");

  // --- plan every tensor -----------------------------------------------------------------------
  const bool has_output = f.find_tensor("output.weight") != nullptr;
  int n_attn_v = 0, n_ffn_down = 0;
  for (const gguf::TensorInfo& t : f.tensors()) {
    if (t.name.find("attn_v.weight") != std::string::npos) ++n_attn_v;
    if (t.name.find("ffn_down") != std::string::npos) ++n_ffn_down;
  }
  int i_attn_v = 0, i_ffn_down = 0;
  std::vector<Planned> plan;
  for (const gguf::TensorInfo& t : f.tensors()) {
    Planned pl;
    pl.info = &t;
    const bool is_weight = t.n_dims == 2 && t.name.size() > 7 && t.name.compare(t.name.size() - 7, 7, ".weight") == 0 &&
                           t.name.find("_norm.weight") == std::string::npos;
    if (!is_weight) {
      pl.role = "copy";
      pl.type = t.type;
      plan.push_back(pl);
      continue;
    }
    if (is_quantized_source(t.type)) {
      return invalid_argument(str_printf("%s: tensor '%s' is %s: quantizing needs f32, f16 or bf16 weights "
                                         "(re-quantizing an already quantized model compounds the rounding)",
                                         in.c_str(), t.name.c_str(), std::string(dtype_name(t.type)).c_str()));
    }
    pl.weight = true;
    const bool is_output = t.name == "output.weight" || (!has_output && t.name == "token_embd.weight");
    const bool is_embd = !is_output && t.name == "token_embd.weight";
    DType type = spec.dtype;
    pl.role = is_output ? "output" : is_embd ? "embd" : "method";
    if (spec.ggml) {
      const bool quantized = spec.dtype != DType::F32 && spec.dtype != DType::F16 && spec.dtype != DType::BF16;
      if (quantized && is_output) {
        // llama_tensor_get_type: q8_0 when the rows are not a multiple of the type's block.
        type = t.ne[0] % block_of(spec.dtype) != 0 ? DType::Q8_0 : spec.dtype != DType::Q8_0 ? DType::Q6_K : DType::Q8_0;
      } else if (quantized && t.name.find("attn_v.weight") != std::string::npos) {
        if (spec.dtype == DType::Q4_K && use_more_bits(i_attn_v, n_attn_v)) type = DType::Q6_K;
        ++i_attn_v;
      } else if (quantized && t.name.find("ffn_down") != std::string::npos) {
        if (spec.dtype == DType::Q4_K && use_more_bits(i_ffn_down, n_ffn_down)) type = DType::Q6_K;
        ++i_ffn_down;
      }
      if (type != spec.dtype && pl.role == "method") pl.role = "mix";
    } else if (is_output || is_embd) {
      type = DType::Q8_0;
    }
    if (is_embd && embd_override) type = *embd_override;
    if (is_output && output_override) type = *output_override;
    if (is_output && !has_output && embd_override && !output_override) type = *embd_override;
    // Shapes the type cannot hold.
    if (!fits(type, t.ne[0])) {
      DType fb = DType::F16;
      if (type == DType::Q4_K && fits(DType::Q5_0, t.ne[0])) fb = DType::Q5_0;
      if (type == DType::Q6_K && fits(DType::Q8_0, t.ne[0])) fb = DType::Q8_0;
      pl.note = str_printf("%s: %lld columns are not a multiple of %s's block of %d: using %s", t.name.c_str(),
                           static_cast<long long>(t.ne[0]), std::string(dtype_name(type)).c_str(), block_of(type),
                           std::string(dtype_name(fb)).c_str());
      type = fb;
      if (pl.role == "method" || pl.role == "mix") pl.role = "fallback";
    }
    pl.type = type;
    plan.push_back(pl);
  }

  // --- calibration: activation-aware scales (validated before any work) -------------------------
  std::map<std::string, std::vector<float>> scales;        // weight name -> channel scales
  std::map<std::string, double> alphas;                    // weight name -> alpha
  std::map<std::string, std::vector<float>> scaled_norms;  // norm name -> g / s
  std::vector<std::string> notes;
  int64_t calib_used = 0;
  ThreadPool pool(p.n_threads);
  if (!p.calib_file.empty()) {
    if (src.tokenizer == nullptr) return invalid_argument("--calib: the model has no tokenizer");
    MNEMO_ASSIGN_OR_RETURN(std::string text, read_text_file(p.calib_file));
    std::vector<Token> tokens = src.tokenizer->encode(text, /*add_bos=*/true);
    if (static_cast<int64_t>(tokens.size()) < kMinCalibTokens) {
      return out_of_range(str_printf("%s: expected at least %lld tokens of calibration text, found %zu", p.calib_file.c_str(),
                                     static_cast<long long>(kMinCalibTokens), tokens.size()));
    }
    if (p.calib_ctx < 2) return invalid_argument("--calib-ctx: expected at least 2");
    tokens.resize(static_cast<size_t>(std::min<int64_t>(std::max(p.calib_tokens, kMinCalibTokens),
                                                        static_cast<int64_t>(tokens.size()))));
    calib_used = static_cast<int64_t>(tokens.size());
    MNEMO_ASSIGN_OR_RETURN(Activations acts, collect_activations(c, src.weights, tokens, src.tokenizer->bos(),
                                                                 p.calib_ctx, kCalibRows, pool));
    auto type_of = [&](const std::string& name) {
      for (const Planned& pl : plan) {
        if (pl.info->name == name) return pl.type;
      }
      return DType::F32;
    };
    for (int64_t l = 0; l < c.n_layer; ++l) {
      const LlamaLayerWeights& lw = src.weights.layers[static_cast<size_t>(l)];
      const LayerActivations& la = acts.layers[static_cast<size_t>(l)];
      const std::string b = str_printf("blk.%lld.", static_cast<long long>(l));
      struct Group {
        const char* label;
        std::vector<std::pair<std::string, const TensorView*>> w;
        const std::vector<double>* sums;
        const std::vector<float>* rows;
        std::string norm;
        const float* g;
      };
      const Group groups[2] = {
          {"attn", {{b + "attn_q.weight", &lw.wq}, {b + "attn_k.weight", &lw.wk}, {b + "attn_v.weight", &lw.wv}},
           &la.attn_abs_sum, &la.attn_rows, b + "attn_norm.weight", lw.attn_norm},
          {"ffn", {{b + "ffn_gate.weight", &lw.ffn_gate}, {b + "ffn_up.weight", &lw.ffn_up}}, &la.ffn_abs_sum,
           &la.ffn_rows, b + "ffn_norm.weight", lw.ffn_norm},
      };
      for (const Group& g : groups) {
        std::vector<std::vector<float>> dense;
        std::vector<AwqTensor> ts;
        for (const auto& [name, v] : g.w) {
          dense.emplace_back(static_cast<size_t>(v->n_elements()));
          for (int64_t r = 0; r < v->n_rows(); ++r) kernels::dequantize_row(v->type, v->row(r), dense.back().data() + r * v->ne[0], v->ne[0]);
        }
        for (size_t i = 0; i < g.w.size(); ++i) ts.push_back({dense[i].data(), g.w[i].second->n_rows(), type_of(g.w[i].first)});
        std::vector<double> mean(static_cast<size_t>(c.n_embd));
        for (int64_t j = 0; j < c.n_embd; ++j) mean[static_cast<size_t>(j)] = (*g.sums)[static_cast<size_t>(j)] / static_cast<double>(acts.n_tokens);
        const int64_t rows = static_cast<int64_t>(g.rows->size()) / c.n_embd;
        AwqResult r = awq_search(ts, c.n_embd, g.rows->data(), rows, mean, pool);
        for (const auto& [name, v] : g.w) {
          scales[name] = r.s;
          alphas[name] = r.alpha;
        }
        std::vector<float> norm(static_cast<size_t>(c.n_embd));
        for (int64_t j = 0; j < c.n_embd; ++j) norm[static_cast<size_t>(j)] = g.g[j] / r.s[static_cast<size_t>(j)];
        scaled_norms[g.norm] = std::move(norm);
        notes.push_back(str_printf("awq %s%s: alpha %.2f, calibration output error %.4g -> %.4g (%+.1f%%)", b.c_str(), g.label,
                                   r.alpha, r.loss_unscaled, r.loss,
                                   r.loss_unscaled > 0 ? 100.0 * (r.loss - r.loss_unscaled) / r.loss_unscaled : 0.0));
      }
    }
    for (const auto& [name, v] : scaled_norms) {
      const gguf::TensorInfo* t = f.find_tensor(name);
      if (t == nullptr || t->n_dims != 1) return corrupt(in + ": tensor '" + name + "': expected a vector to fold the scales into");
    }
  }
  for (Planned& pl : plan) {
    if (auto it = scales.find(pl.info->name); it != scales.end()) {
      pl.scale = &it->second;
      pl.alpha = alphas[pl.info->name];
    }
  }

  // --- quantize --------------------------------------------------------------------------------
  QuantizeReport rep;
  rep.type = std::string(dtype_name(spec.dtype));
  rep.group = spec.group;
  uint64_t total = 0, done = 0;
  for (const Planned& pl : plan) {
    if (pl.weight) total += static_cast<uint64_t>(pl.info->ne[0] * pl.info->ne[1]);
  }
  std::vector<std::unique_ptr<std::vector<uint8_t>>> owned;
  gguf::GgufWriter w(f.alignment());
  for (const auto& [key, value] : f.metadata()) {
    if (key == "general.file_type" || key == "general.quantization_version" || key.rfind("mnemo.quantize.", 0) == 0) {
      continue;
    }
    if (key == gguf::kAlignmentKey) continue;
    w.set(key, value);
  }
  const bool any_quantized = spec.dtype != DType::F32 && spec.dtype != DType::F16 && spec.dtype != DType::BF16;
  if (spec.ggml) {
    if (any_quantized) w.set("general.quantization_version", gguf::Value::u32(2));
    w.set("general.file_type", gguf::Value::u32(static_cast<uint32_t>(spec.ftype)));
  }
  w.set("mnemo.quantize.type", gguf::Value::string(std::string(dtype_name(spec.dtype))));
  w.set("mnemo.quantize.calibration_tokens", gguf::Value::u32(static_cast<uint32_t>(calib_used)));

  const int nth = pool.size();
  for (const Planned& pl : plan) {
    const gguf::TensorInfo& t = *pl.info;
    std::vector<int64_t> shape(t.ne, t.ne + t.n_dims);
    if (!pl.weight) {
      if (auto it = scaled_norms.find(t.name); it != scaled_norms.end()) {
        MNEMO_RETURN_IF_ERROR(w.add_tensor(t.name, DType::F32, shape, it->second.data()));
      } else {
        MNEMO_RETURN_IF_ERROR(w.add_tensor(t.name, t.type, shape, f.tensor_bytes(t).data()));
      }
      ++rep.n_copied;
      continue;
    }
    const TensorView v = f.view(t);
    const int64_t n = t.ne[0], rows = v.n_rows();
    const uint64_t rb = *row_bytes(pl.type, static_cast<uint64_t>(n));
    owned.push_back(std::make_unique<std::vector<uint8_t>>(rb * static_cast<uint64_t>(rows)));
    uint8_t* out = owned.back()->data();
    std::vector<double> row_sse(static_cast<size_t>(rows)), row_sq(static_cast<size_t>(rows));
    std::vector<std::vector<float>> buf(static_cast<size_t>(nth), std::vector<float>(static_cast<size_t>(3 * n)));
    pool.run([&](int ith, int nth_run) {
      int64_t r0, r1;
      ThreadPool::split_range(rows, 1, ith, nth_run, &r0, &r1);
      float* x = buf[static_cast<size_t>(ith)].data();
      float* xs = x + n;
      float* back = x + 2 * n;
      for (int64_t r = r0; r < r1; ++r) {
        kernels::dequantize_row(v.type, v.row(r), x, n);
        const float* q_in = x;
        if (pl.scale != nullptr) {
          for (int64_t j = 0; j < n; ++j) xs[j] = x[j] * (*pl.scale)[static_cast<size_t>(j)];
          q_in = xs;
        }
        uint8_t* dst = out + static_cast<uint64_t>(r) * rb;
        MNEMO_CHECK(quantize_row(pl.type, q_in, dst, n).is_ok());  // every planned type is writable
        kernels::dequantize_row(pl.type, dst, back, n);
        double sse = 0.0, sq = 0.0;
        for (int64_t j = 0; j < n; ++j) {
          const double b = pl.scale != nullptr ? back[j] / (*pl.scale)[static_cast<size_t>(j)] : back[j];
          const double e = b - x[j];
          sse += e * e;
          sq += static_cast<double>(x[j]) * x[j];
        }
        row_sse[static_cast<size_t>(r)] = sse;
        row_sq[static_cast<size_t>(r)] = sq;
      }
    });
    double sse = 0.0, sq = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      sse += row_sse[static_cast<size_t>(r)];
      sq += row_sq[static_cast<size_t>(r)];
    }
    MNEMO_RETURN_IF_ERROR(w.add_tensor(t.name, pl.type, shape, out));
    TensorQuantReport tr;
    tr.name = t.name;
    tr.shape = shape;
    tr.type = std::string(dtype_name(pl.type));
    tr.role = pl.role;
    tr.bytes = rb * static_cast<uint64_t>(rows);
    const double count = static_cast<double>(rows * n);
    tr.mse = sse / count;
    tr.mean_sq = sq / count;
    tr.awq_alpha = pl.alpha;
    rep.weight_elements += static_cast<uint64_t>(rows * n);
    rep.weight_bytes += tr.bytes;
    if (pl.role == "method") {
      ++rep.n_method;
      rep.method_elements += static_cast<uint64_t>(rows * n);
      rep.method_bytes += tr.bytes;
      rep.method_mse += sse;
    } else if (pl.role == "fallback") {
      ++rep.n_fallback;
    } else {
      ++rep.n_other;
    }
    if (!pl.note.empty()) rep.notes.push_back(pl.note);
    rep.tensors.push_back(std::move(tr));
    done += static_cast<uint64_t>(rows * n);
    if (progress) progress(done, total);
  }
  if (rep.method_elements > 0) rep.method_mse /= static_cast<double>(rep.method_elements);
  for (std::string& s : notes) rep.notes.push_back(std::move(s));
  MNEMO_RETURN_IF_ERROR(w.finish(p.output));
  if (FILE* fp = std::fopen(p.output.c_str(), "rb")) {
    std::fseek(fp, 0, SEEK_END);
    rep.file_bytes = static_cast<uint64_t>(std::ftell(fp));
    std::fclose(fp);
  }
  if (report_out != nullptr) *report_out = std::move(rep);
  return Status::ok();
}

}  // namespace mnemo::compress

namespace mnemo {

std::vector<std::string> quantize_type_names() {
  std::vector<std::string> v;
  for (const auto& g : compress::kGgmlTypes) v.emplace_back(g.name);
  for (const char* m : compress::kMethodNames) v.emplace_back(m);
  for (int w = 1; w <= 8; ++w) v.push_back("bipolar:" + std::to_string(w));
  return v;
}

std::vector<std::string> group_type_names() {
  return std::vector<std::string>(std::begin(compress::kMethodNames), std::end(compress::kMethodNames));
}

Status write_file_atomically(const std::string& path, const std::string& contents) {
  return write_file_atomic(path, contents);
}

namespace {
// "q5_0: 25, f16: 5": counts of the tensors of `role` by the type written, in first-seen order.
std::string count_types(const QuantizeReport& r, const std::string& role) {
  std::vector<std::pair<std::string, int>> counts;
  for (const TensorQuantReport& t : r.tensors) {
    if (t.role != role) continue;
    auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == t.type; });
    if (it == counts.end()) {
      counts.emplace_back(t.type, 1);
    } else {
      ++it->second;
    }
  }
  std::string out;
  for (const auto& [type, n] : counts) out += (out.empty() ? "" : ", ") + type + ": " + std::to_string(n);
  return out;
}
}  // namespace

std::string quantize_summary(const QuantizeReport& r) {
  std::string s = r.type + ": ";
  const int n_weights = r.n_method + r.n_fallback + r.n_other;
  if (r.n_method > 0) {
    s += str_printf("%d of %d weights in the type (%.4f bits/weight, weight MSE %.4e)", r.n_method, n_weights,
                    r.method_bpw(), r.method_mse);
  } else {
    s += str_printf("none of the %d weights in the type", n_weights);
  }
  if (r.n_fallback > 0) {
    s += str_printf("; %d fell back to other types because their rows are not a multiple of the block of the type planned for them (%s)", r.n_fallback,
                    count_types(r, "fallback").c_str());
  }
  for (const char* role : {"mix", "embd", "output"}) {
    const std::string c = count_types(r, role);
    if (c.empty()) continue;
    s += std::string("; ") + (std::string(role) == "mix" ? "by llama.cpp's mix rule" : role) + " " + c;
  }
  s += str_printf("; %d copied; all weights %.4f bits/weight; %s", r.n_copied, r.weight_bpw(),
                  format_bytes(r.file_bytes).c_str());
  return s;
}

bool is_mnemo_only_type(std::string_view name) {
  auto t = dtype_from_name(name);
  return t.has_value() && is_mnemo_type(*t);
}

}  // namespace mnemo
