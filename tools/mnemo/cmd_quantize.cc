// mnemo quantize: a model to a quantized GGUF: llama.cpp's types (byte-identical to llama-quantize)
// or mnemo's own group, BitMoD and bipolar types, optionally with activation-aware scaling from a
// calibration text. See include/mnemo/quantize.h for the type policy.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "common_options.h"
#include "mnemo/quantize.h"
#include "progress.h"

namespace mnemo::cli {
namespace {

struct QuantizeOptions {
  QuantizeParams p;
  bool report = false;
  bool json = false;
};

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? " x " : "") + std::to_string(s[i]);
  return out;
}

Status run(const QuantizeOptions& o) {
  QuantizeReport r;
  ProgressBar bar("quantize");
  MNEMO_RETURN_IF_ERROR(quantize_model(o.p, &r, [&](uint64_t d, uint64_t t) {
    if (!o.json) bar.update(d, t);
  }));
  for (const std::string& n : r.notes) std::fprintf(stderr, "mnemo: quantize: %s\n", n.c_str());
  if (o.json) {
    nlohmann::ordered_json j;
    j["input"] = o.p.input;
    j["output"] = o.p.output;
    j["type"] = r.type;
    j["group"] = r.group;
    j["calibration"] = o.p.calib_file;
    j["n_method"] = r.n_method;
    j["n_fallback"] = r.n_fallback;
    j["n_other"] = r.n_other;
    j["n_copied"] = r.n_copied;
    j["method_bpw"] = r.method_bpw();
    j["method_mse"] = r.method_mse;
    j["weight_bpw"] = r.weight_bpw();
    j["file_bytes"] = r.file_bytes;
    j["notes"] = r.notes;
    j["summary"] = quantize_summary(r);
    if (o.report) {
      nlohmann::ordered_json ts = nlohmann::ordered_json::array();
      for (const TensorQuantReport& t : r.tensors) {
        ts.push_back({{"name", t.name}, {"shape", t.shape}, {"type", t.type}, {"role", t.role}, {"bytes", t.bytes},
                      {"mse", t.mse}, {"mean_sq", t.mean_sq}, {"awq_alpha", t.awq_alpha}});
      }
      j["tensors"] = ts;
    }
    std::printf("%s\n", j.dump().c_str());
    return Status::ok();
  }
  if (o.report) {
    std::printf("%-28s %-12s %-14s %-8s %10s %12s %10s %6s\n", "tensor", "shape", "type", "role", "bytes", "mse", "rel_mse",
                "awq");
    for (const TensorQuantReport& t : r.tensors) {
      std::printf("%-28s %-12s %-14s %-8s %10llu %12.4e %10.4e %6s\n", t.name.c_str(), shape_str(t.shape).c_str(),
                  t.type.c_str(), t.role.c_str(), static_cast<unsigned long long>(t.bytes), t.mse,
                  t.mean_sq > 0 ? t.mse / t.mean_sq : 0.0,
                  t.awq_alpha >= 0 ? str_printf("%.2f", t.awq_alpha).c_str() : "-");
    }
  }
  std::printf("%s -> %s: %s\n", o.p.input.c_str(), o.p.output.c_str(), quantize_summary(r).c_str());
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<QuantizeOptions>();
  std::string types;
  for (const std::string& t : quantize_type_names()) types += (types.empty() ? "" : ", ") + t;
  app.add_option("input", o->p.input, "Model to quantize (GGUF with f32/f16/bf16 weights, or llama2.c .bin)")->required();
  app.add_option("output", o->p.output, "Output GGUF")->required();
  app.add_option("--type", o->p.type, "Weight type: " + types)->required();
  app.add_option("--group", o->p.group, "Group size of mnemo's group types: 32, 64 or 128 (0: the largest that divides the rows)")
      ->capture_default_str();
  app.add_option("--calib", o->p.calib_file, "Calibration text for activation-aware scaling (never the evaluation text)");
  app.add_option("--calib-tokens", o->p.calib_tokens, "Calibration tokens used")->capture_default_str();
  app.add_option("--calib-ctx", o->p.calib_ctx, "Positions per calibration chunk")->capture_default_str();
  app.add_option("--embd-type", o->p.embd_type, "Type of token_embd.weight (default: llama.cpp's rule, q8_0 for mnemo types)");
  app.add_option("--output-type", o->p.output_type, "Type of output.weight (default: llama.cpp's rule, q8_0 for mnemo types)");
  app.add_option("-z,--tokenizer", o->p.tokenizer, "Tokenizer (tokenizer.bin) of a llama2.c checkpoint");
  app.add_option("-t,--threads", o->p.n_threads, "Worker threads (0 = all CPUs)")->capture_default_str();
  app.add_flag("--report", o->report, "Print every tensor's type, bytes and weight MSE");
  app.add_flag("--json", o->json, "Print one JSON object (with --report: per tensor)");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("quantize", "Quantize a model's weights to llama.cpp's or mnemo's types (GGUF out)", setup);

}  // namespace mnemo::cli
