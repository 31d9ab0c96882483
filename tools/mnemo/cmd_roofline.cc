// mnemo roofline: the per-layer roofline cost model (LLM-Viewer) of a model on a hardware profile:
// FLOPs, bytes, intensity, bound and time of every operation of prefill and decode, and the
// predicted tokens/s. See include/mnemo/roofline.h.
#include <cstdio>
#include <thread>

#include "command.h"
#include "common_options.h"
#include "mnemo/mnemo.h"
#include "mnemo/quantize.h"  // write_file_atomically
#include "mnemo/roofline.h"

namespace mnemo::cli {
namespace {

struct RooflineOptions {
  std::string model;
  std::string tokenizer;
  std::string hw;
  int64_t n_prompt = 512;
  int64_t n_gen = 128;
  int64_t n_ctx = 0;
  int64_t n_batch = 512;
  int threads = 0;
  ContextOptions context;  // --cache-type-k/-v: the cache whose bytes the roofline counts
  bool json = false;
  std::string svg;
};

Status check_sizes(const RooflineOptions& o) {
  auto count = [](const char* flag, int64_t v, int64_t min) -> Status {
    if (v >= min) return Status::ok();
    return out_of_range(str_printf("%s: expected %s, found %lld", flag, min > 0 ? "a positive count" : "a count >= 0",
                                   static_cast<long long>(v)));
  };
  MNEMO_RETURN_IF_ERROR(count("-p", o.n_prompt, 0));
  MNEMO_RETURN_IF_ERROR(count("-n", o.n_gen, 0));
  if (o.n_prompt == 0 && o.n_gen == 0) return out_of_range("-p, -n: expected a prompt or a generation, found 0 and 0");
  MNEMO_RETURN_IF_ERROR(count("--n-past", o.n_ctx, 0));
  MNEMO_RETURN_IF_ERROR(count("-b", o.n_batch, 1));
  MNEMO_RETURN_IF_ERROR(count("-t", o.threads, 0));
  return Status::ok();
}

// The profile to use: --hw, or this machine measured now for the model's weight types.
Expected<HardwareProfile> profile_for(const RooflineOptions& o, const ModelInfo& info, int threads) {
  if (!o.hw.empty()) return resolve_hardware_profile(o.hw);
  std::fprintf(stderr, "no --hw: measuring this machine at %d threads (save a profile with mnemo hw --save FILE and "
                       "pass --hw FILE to skip this)...\n", threads);
  BandwidthOptions bo;
  bo.threads = {threads};
  bo.repetitions = 3;
  ComputeOptions co;
  co.threads = {threads};
  co.types.clear();
  for (const auto& [type, bytes] : info.bytes_by_type) co.types.push_back(type);
  co.batches = {1};
  if (o.n_prompt > 1) co.batches.push_back(std::min(o.n_batch, o.n_prompt));
  co.repetitions = 2;
  return measure_hardware_profile("this-machine", bo, co);
}

void print_stage(const StageCost& st) {
  const RooflineRequest& r = st.request;
  if (r.stage == Stage::kPrefill) {
    std::printf("\n## prefill: %lld tokens after %lld cached positions, %lld per pass\n\n",
                static_cast<long long>(r.n_tokens), static_cast<long long>(r.n_ctx), static_cast<long long>(r.n_batch));
  } else {
    std::printf("\n## decode: %lld tokens, one per pass, after %lld cached positions\n\n",
                static_cast<long long>(r.n_tokens), static_cast<long long>(r.n_ctx));
  }
  std::printf("| op | kind | count | GFLOP | weights MB | act MB | KV MB | FLOP/B | bound | roof GFLOP/s | ms | %% |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n");
  for (const OpCost& c : st.ops) {
    const std::string roof = c.gflop_s_roof > 0 ? str_printf("%.1f", c.gflop_s_roof) : "-";
    std::printf("| %s | %s | %lld | %.3f | %.2f | %.2f | %.2f | %.2f | %s | %s | %.2f | %.1f |\n", c.name.c_str(),
                c.kind.c_str(), static_cast<long long>(c.count), c.flops / 1e9, c.weight_bytes / 1e6,
                (c.act_read_bytes + c.act_write_bytes) / 1e6, (c.kv_read_bytes + c.kv_write_bytes) / 1e6, c.intensity(),
                c.bytes() == 0 && c.flops == 0 ? "-" : (c.memory_bound() ? "memory" : "compute"), roof.c_str(),
                c.seconds * 1e3, st.seconds > 0 ? 100.0 * c.seconds / st.seconds : 0.0);
  }
  std::printf("| **one layer** | | | | | | | | | | %.2f | %.1f |\n", st.layer_seconds() * 1e3,
              st.seconds > 0 ? 100.0 * st.layer_seconds() / st.seconds : 0.0);
  std::printf("| **total** | | | %.3f | %.2f GB moved | | | %.2f | | | %.2f | 100.0 |\n", st.flops / 1e9, st.bytes / 1e9,
              st.bytes > 0 ? st.flops / st.bytes : 0.0, st.seconds * 1e3);
  const char* test = r.stage == Stage::kPrefill ? "pp" : "tg";
  std::printf("\npredicted %s%lld: %.2f tok/s (%.3f s; bandwidth roof %.2f GB/s)\n", test,
              static_cast<long long>(r.n_tokens), st.tokens_per_s, st.seconds, st.bandwidth_gb_s);
}

Status run(const RooflineOptions& o) {
  MNEMO_RETURN_IF_ERROR(check_sizes(o));
  ModelParams mp;
  mp.tokenizer_path = o.tokenizer;
  MNEMO_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::load(o.model, mp));
  const ModelInfo& info = model->info();
  MNEMO_RETURN_IF_ERROR(o.context.check_kv_types(*model));
  MNEMO_ASSIGN_OR_RETURN(const KvCacheTypes kv,
                         kv_cache_types(*model, o.context.type_k, o.context.type_v));
  const int threads = o.threads > 0
                          ? o.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  MNEMO_ASSIGN_OR_RETURN(HardwareProfile profile, profile_for(o, info, threads));

  std::vector<StageCost> stages;
  RooflineRequest r;
  r.n_ctx = o.n_ctx;
  r.n_batch = o.n_batch;
  r.n_threads = threads;
  r.kv_bytes_per_value = kv.bytes_per_value;
  if (o.n_prompt > 0) {
    r.stage = Stage::kPrefill;
    r.n_tokens = o.n_prompt;
    MNEMO_ASSIGN_OR_RETURN(StageCost st, analyze_stage(profile, info, r));
    stages.push_back(std::move(st));
  }
  if (o.n_gen > 0) {
    r.stage = Stage::kDecode;
    r.n_tokens = o.n_gen;
    MNEMO_ASSIGN_OR_RETURN(StageCost st, analyze_stage(profile, info, r));
    stages.push_back(std::move(st));
  }
  if (!o.svg.empty()) {
    MNEMO_RETURN_IF_ERROR(write_file_atomically(o.svg, roofline_svg(profile, info, stages)));
    std::fprintf(stderr, "wrote %s\n", o.svg.c_str());
  }
  if (o.json) {
    std::printf("%s", roofline_json(profile, info, stages).c_str());
    return Status::ok();
  }
  std::printf(
      "# roofline of %s on %s, %d thread%s, KV cache K %s, V %s (%.4g bytes per value)\n\n%s\n",
      info.path.c_str(), profile.name.c_str(), threads, threads == 1 ? "" : "s", kv.type_k.c_str(),
      kv.type_v.c_str(), kv.bytes_per_value, profile.source.c_str());
  for (const StageCost& st : stages) print_stage(st);
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<RooflineOptions>();
  app.add_option("-m,--model", o->model, "Model file: GGUF or llama2.c checkpoint (.bin)")->required();
  app.add_option("-z,--tokenizer", o->tokenizer, "Tokenizer file; required for llama2.c checkpoints");
  app.add_option("--hw", o->hw,
                 "Hardware profile: a JSON file from mnemo hw --save, or a built-in name (mnemo hw --list); "
                 "default: measure this machine now");
  app.add_option("-p,--n-prompt", o->n_prompt, "Prefill: prompt tokens (0: no prefill)")->capture_default_str();
  app.add_option("-n,--n-gen", o->n_gen, "Decode: tokens generated (0: no decode)")->capture_default_str();
  app.add_option("--n-past", o->n_ctx, "Positions already cached before each stage (not -c: that is a context size everywhere)")->capture_default_str();
  app.add_option("-b,--batch", o->n_batch, "Prefill: tokens per forward pass")->capture_default_str();
  app.add_option("-t,--threads", o->threads, "Threads (0 = all CPUs)")->capture_default_str();
  o->context.add_kv_types(app);
  app.add_flag("--json", o->json, "Print JSON");
  app.add_option("--svg", o->svg, "Write a roofline plot (SVG) to this file");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("roofline", "Per-layer roofline cost model (LLM-Viewer): ops, bytes, bound, time, predicted tok/s",
              setup);

}  // namespace mnemo::cli
