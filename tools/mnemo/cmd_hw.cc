// mnemo hw: this machine's hardware profile (DRAM read bandwidth per thread count and the compute
// roofs of mnemo's kernels per weight type, batch and thread count), saved for `mnemo roofline`;
// or a saved or built-in profile shown. With a model, also its decode roofline (bytes read per
// token and the maximum tokens/s). See include/mnemo/hw.h and include/mnemo/hw_profile.h.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "command.h"
#include "mnemo/hw.h"
#include "mnemo/hw_profile.h"
#include "mnemo/mnemo.h"

namespace mnemo::cli {
namespace {

struct HwOptions {
  std::string model;
  std::string tokenizer;
  std::string threads;
  uint64_t size_mib = 1024;
  uint64_t stream_mib = 256;
  int reps = 5;
  int64_t n_prompt = 0;
  int64_t n_gen = 128;
  std::string types;
  std::string batches;
  bool no_compute = false;
  std::string name = "this-machine";
  std::string save;
  std::string load;
  bool list = false;
  bool json = false;
};

// A comma-separated list of positive integers.
template <typename T>
Expected<std::vector<T>> parse_counts(const std::string& flag, const std::string& s) {
  std::vector<T> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v < 1) throw std::invalid_argument(item);
      out.push_back(static_cast<T>(v));
    } catch (const std::exception&) {
      return usage_error(flag + ": expected a comma-separated list of positive integers, found '" + s + "'");
    }
  }
  return out;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

void print_profile(const HardwareProfile& p) {
  std::printf("profile %s: %s\n", p.name.c_str(), p.source.c_str());
  if (!p.notes.empty()) std::printf("notes: %s\n", p.notes.c_str());
  std::printf("\nmemory roofs (all: plain read; a weight type: its decode GEMV streaming weights)\n");
  std::printf("| kind | threads | GB/s |\n|------|---------|------|\n");
  for (const BandwidthFigure& b : p.bandwidth) {
    std::printf("| %s | %s | %.2f |\n", b.kind.empty() ? "all" : b.kind.c_str(),
                b.threads == 0 ? "any" : std::to_string(b.threads).c_str(), b.gb_s);
  }
  // Compute: one row per (kind, batch), one column per thread count.
  std::set<int> threads;
  std::map<std::pair<std::string, int64_t>, std::map<int, double>> rows;
  std::vector<std::pair<std::string, int64_t>> order;
  for (const ComputeFigure& c : p.compute) {
    threads.insert(c.threads);
    const auto key = std::make_pair(c.kind, c.batch);
    if (rows.count(key) == 0) order.push_back(key);
    rows[key][c.threads] = c.gflop_s;
  }
  std::printf("\ncompute roofs, GFLOP/s\n| kind | batch |");
  for (int t : threads) std::printf(" %s |", t == 0 ? "device" : (std::to_string(t) + " thr").c_str());
  std::printf("\n|------|-------|");
  for (size_t i = 0; i < threads.size(); ++i) std::printf("------|");
  std::printf("\n");
  for (const auto& key : order) {
    std::printf("| %s | %lld |", key.first.c_str(), static_cast<long long>(key.second));
    for (int t : threads) {
      auto it = rows[key].find(t);
      if (it == rows[key].end()) {
        std::printf(" - |");
      } else {
        std::printf(" %.1f |", it->second);
      }
    }
    std::printf("\n");
  }
}

// The model's default KV cache (context.h): its name and bytes per value.
KvCacheTypes default_kv(const Model& model) {
  auto kv = kv_cache_types(model);  // the default types (f32, f16) fit every model
  return kv.has_value() ? *kv : KvCacheTypes{"f32", "f32", 0, 4.0};
}

void print_decode_roofline(const Model& model, const std::vector<BandwidthFigure>& bw,
                           const HwOptions& o) {
  const ModelInfo& info = model.info();
  const KvCacheTypes kv = default_kv(model);
  const DecodeRoofline r = decode_roofline(info, 0.0, o.n_prompt, o.n_gen, kv.bytes_per_value);
  std::printf("\ndecode roofline of %s (tg%lld after %lld positions)\n", info.path.c_str(),
              static_cast<long long>(o.n_gen), static_cast<long long>(o.n_prompt));
  std::printf(
      "bytes per token: %s weights (all but the token embedding, plus one row) + %s KV (K %s, V "
      "%s) = %s\n",
      format_bytes(r.weight_bytes).c_str(), format_bytes(r.kv_bytes).c_str(), kv.type_k.c_str(),
      kv.type_v.c_str(), format_bytes(r.bytes_per_token).c_str());
  std::printf(
      "| threads | bandwidth GB/s | max tokens/s |\n|---------|----------------|--------------|\n");
  for (const BandwidthFigure& b : bw) {
    if (!b.kind.empty()) continue;
    const DecodeRoofline rp =
        decode_roofline(info, b.gb_s, o.n_prompt, o.n_gen, kv.bytes_per_value);
    std::printf("| %7d | %14.2f | %12.2f |\n", b.threads, b.gb_s, rp.max_tokens_per_s);
  }
}

Status run(const HwOptions& o) {
  if (o.list) {
    for (const HardwareProfile& p : builtin_hardware_profiles()) std::printf("%-12s %s\n", p.name.c_str(), p.source.c_str());
    return Status::ok();
  }
  std::unique_ptr<Model> model;
  if (!o.model.empty()) {
    ModelParams p;
    p.tokenizer_path = o.tokenizer;
    MNEMO_ASSIGN_OR_RETURN(model, Model::load(o.model, p));
  }
  if (!o.load.empty()) {  // show a saved or built-in profile
    MNEMO_ASSIGN_OR_RETURN(HardwareProfile p, resolve_hardware_profile(o.load));
    if (o.json) {
      std::printf("%s", hardware_profile_to_json(p).c_str());
      return Status::ok();
    }
    print_profile(p);
    if (model) print_decode_roofline(*model, p.bandwidth, o);
    return Status::ok();
  }

  BandwidthOptions bo;
  ComputeOptions co;
  if (!o.threads.empty()) {
    MNEMO_ASSIGN_OR_RETURN(bo.threads, parse_counts<int>("-t", o.threads));
    co.threads = bo.threads;
  }
  if (!o.types.empty()) co.types = split(o.types);
  if (!o.batches.empty()) {
    MNEMO_ASSIGN_OR_RETURN(co.batches, parse_counts<int64_t>("--batches", o.batches));
  }
  bo.buffer_bytes = o.size_mib << 20;
  bo.repetitions = o.reps;
  std::fprintf(stderr, "reading %s %d times per thread count...\n", format_bytes(bo.buffer_bytes).c_str(), bo.repetitions);
  MNEMO_ASSIGN_OR_RETURN(std::vector<BandwidthPoint> bw, measure_read_bandwidth(bo));
  co.stream_bytes = o.stream_mib << 20;
  std::vector<ComputeFigure> figures;
  std::vector<BandwidthFigure> streaming;
  if (!o.no_compute) {
    std::fprintf(stderr, "timing mnemo's kernels (%zu types x %zu batches, attention, RMSNorm) per thread count...\n",
                 co.types.size(), co.batches.size());
    MNEMO_ASSIGN_OR_RETURN(figures, measure_compute(co));
    std::fprintf(stderr, "streaming %s of weights through the decode GEMV of each type...\n",
                 format_bytes(co.stream_bytes).c_str());
    MNEMO_ASSIGN_OR_RETURN(streaming, measure_streaming(co));
  }
  const HardwareProfile profile = measured_hardware_profile(o.name, bw, bo, figures, streaming, co);
  if (!o.save.empty()) {
    if (o.no_compute) return usage_error("--save: a profile needs the compute roofs; drop --no-compute");
    MNEMO_RETURN_IF_ERROR(save_hardware_profile(profile, o.save));
    std::fprintf(stderr, "saved the profile to %s\n", o.save.c_str());
  }

  if (o.json) {
    nlohmann::ordered_json j;
    j["buffer_bytes"] = bo.buffer_bytes;
    j["repetitions"] = bo.repetitions;
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    const double kv_bytes = model ? default_kv(*model).bytes_per_value : 4.0;
    for (const BandwidthPoint& p : bw) {
      nlohmann::ordered_json e = {{"threads", p.threads}, {"best_gb_s", p.best_gb_s}, {"median_gb_s", p.median_gb_s}};
      if (model) {
        e["max_tokens_per_s"] =
            decode_roofline(model->info(), p.best_gb_s, o.n_prompt, o.n_gen, kv_bytes).max_tokens_per_s;
      }
      arr.push_back(e);
    }
    j["bandwidth"] = arr;
    if (model) {
      const DecodeRoofline r = decode_roofline(model->info(), 0.0, o.n_prompt, o.n_gen, kv_bytes);
      j["model"] = {{"path", model->info().path},
                    {"n_prompt", o.n_prompt},
                    {"n_gen", o.n_gen},
                    {"weight_bytes_per_token", r.weight_bytes},
                    {"kv_bytes_per_token", r.kv_bytes},
                    {"bytes_per_token", r.bytes_per_token}};
    }
    if (!o.no_compute) j["profile"] = nlohmann::ordered_json::parse(hardware_profile_to_json(profile));
    std::printf("%s\n", j.dump(2).c_str());
    return Status::ok();
  }
  std::printf("DRAM read bandwidth (%s buffer, best and median of %d passes)\n", format_bytes(bo.buffer_bytes).c_str(),
              bo.repetitions);
  std::printf("| threads | best GB/s | median GB/s |\n|---------|-----------|-------------|\n");
  for (const BandwidthPoint& p : bw) std::printf("| %7d | %9.2f | %11.2f |\n", p.threads, p.best_gb_s, p.median_gb_s);
  if (!o.no_compute) {
    std::printf("\n");
    print_profile(profile);
  }
  if (model) print_decode_roofline(*model, profile.bandwidth, o);
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<HwOptions>();
  app.add_option("-m,--model", o->model, "Model file: also print its decode roofline");
  app.add_option("-z,--tokenizer", o->tokenizer, "Tokenizer file (llama2.c checkpoints)");
  app.add_option("-t,--threads", o->threads, "Thread counts, comma-separated (default: 1 .. all CPUs)");
  app.add_option("--size", o->size_mib, "Read buffer in MiB (far larger than the last-level cache)")->capture_default_str();
  app.add_option("-r,--repetitions", o->reps, "Passes per thread count")->capture_default_str();
  app.add_option("--stream-size", o->stream_mib, "Weights streamed per type for its GEMV memory roof, in MiB")
      ->capture_default_str();
  app.add_option("-p,--n-prompt", o->n_prompt, "Roofline: positions already cached")->capture_default_str();
  app.add_option("-n,--n-gen", o->n_gen, "Roofline: tokens generated (the KV read is averaged over them)")->capture_default_str();
  app.add_option("--types", o->types,
                 "Weight types whose matrix products are timed, comma-separated (default: f32,f16,bf16,q8_0,q4_0,q4_k,q6_k)");
  app.add_option("--batches", o->batches, "Tokens per product timed, comma-separated (default: 1,8,32,512)");
  app.add_flag("--no-compute", o->no_compute, "Measure the bandwidth only (no kernel timing)");
  app.add_option("--name", o->name, "Name of the measured profile")->capture_default_str();
  app.add_option("--save", o->save, "Write the measured profile to this JSON file (for mnemo roofline --hw FILE)");
  app.add_option("--load", o->load, "Show a saved profile (JSON file) or a built-in one (see --list) instead of measuring");
  app.add_flag("--list", o->list, "List the built-in profiles of other devices");
  app.add_flag("--json", o->json, "Print JSON");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("hw", "Hardware profile: memory bandwidth and kernel compute roofs; a model's decode roofline", setup);

}  // namespace mnemo::cli
