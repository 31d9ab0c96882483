// mnemo hw: DRAM read bandwidth per thread count and, for a model, the decode roofline it implies
// (bytes read per token and the maximum tokens/s). See include/mnemo/hw.h.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "command.h"
#include "mnemo/hw.h"
#include "mnemo/mnemo.h"

namespace mnemo::cli {
namespace {

struct HwOptions {
  std::string model;
  std::string tokenizer;
  std::string threads;
  uint64_t size_mib = 1024;
  int reps = 5;
  int64_t n_prompt = 0;
  int64_t n_gen = 128;
  bool json = false;
};

Expected<std::vector<int>> parse_threads(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const int v = std::stoi(item, &used);
      if (used != item.size() || v < 1) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      return usage_error("-t: expected a comma-separated list of positive integers, found '" + s + "'");
    }
  }
  return out;
}

Status run(const HwOptions& o) {
  BandwidthOptions bo;
  if (!o.threads.empty()) {
    MNEMO_ASSIGN_OR_RETURN(bo.threads, parse_threads(o.threads));
  }
  bo.buffer_bytes = o.size_mib << 20;
  bo.repetitions = o.reps;
  std::unique_ptr<Model> model;
  if (!o.model.empty()) {
    ModelParams p;
    p.tokenizer_path = o.tokenizer;
    MNEMO_ASSIGN_OR_RETURN(model, Model::load(o.model, p));
  }
  std::fprintf(stderr, "reading %s %d times per thread count...\n", format_bytes(bo.buffer_bytes).c_str(), bo.repetitions);
  MNEMO_ASSIGN_OR_RETURN(std::vector<BandwidthPoint> bw, measure_read_bandwidth(bo));

  if (o.json) {
    nlohmann::ordered_json j;
    j["buffer_bytes"] = bo.buffer_bytes;
    j["repetitions"] = bo.repetitions;
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const BandwidthPoint& p : bw) {
      nlohmann::ordered_json e = {{"threads", p.threads}, {"best_gb_s", p.best_gb_s}, {"median_gb_s", p.median_gb_s}};
      if (model) {
        const DecodeRoofline r = decode_roofline(model->info(), p.best_gb_s, o.n_prompt, o.n_gen);
        e["max_tokens_per_s"] = r.max_tokens_per_s;
      }
      arr.push_back(e);
    }
    j["bandwidth"] = arr;
    if (model) {
      const DecodeRoofline r = decode_roofline(model->info(), 0.0, o.n_prompt, o.n_gen);
      j["model"] = {{"path", model->info().path},
                    {"n_prompt", o.n_prompt},
                    {"n_gen", o.n_gen},
                    {"weight_bytes_per_token", r.weight_bytes},
                    {"kv_bytes_per_token", r.kv_bytes},
                    {"bytes_per_token", r.bytes_per_token}};
    }
    std::printf("%s\n", j.dump(2).c_str());
    return Status::ok();
  }
  std::printf("DRAM read bandwidth (%s buffer, best and median of %d passes)\n", format_bytes(bo.buffer_bytes).c_str(),
              bo.repetitions);
  std::printf("| threads | best GB/s | median GB/s |\n|---------|-----------|-------------|\n");
  for (const BandwidthPoint& p : bw) std::printf("| %7d | %9.2f | %11.2f |\n", p.threads, p.best_gb_s, p.median_gb_s);
  if (model) {
    const DecodeRoofline r = decode_roofline(model->info(), 0.0, o.n_prompt, o.n_gen);
    std::printf("\ndecode roofline of %s (tg%lld after %lld positions)\n", model->info().path.c_str(),
                static_cast<long long>(o.n_gen), static_cast<long long>(o.n_prompt));
    std::printf("bytes per token: %s weights (all but the token embedding, plus one row) + %s KV (F32) = %s\n",
                format_bytes(r.weight_bytes).c_str(), format_bytes(r.kv_bytes).c_str(),
                format_bytes(r.bytes_per_token).c_str());
    std::printf("| threads | bandwidth GB/s | max tokens/s |\n|---------|----------------|--------------|\n");
    for (const BandwidthPoint& p : bw) {
      const DecodeRoofline rp = decode_roofline(model->info(), p.best_gb_s, o.n_prompt, o.n_gen);
      std::printf("| %7d | %14.2f | %12.2f |\n", p.threads, p.best_gb_s, rp.max_tokens_per_s);
    }
  }
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<HwOptions>();
  app.add_option("-m,--model", o->model, "Model file: also print its decode roofline");
  app.add_option("-z,--tokenizer", o->tokenizer, "Tokenizer file (llama2.c checkpoints)");
  app.add_option("-t,--threads", o->threads, "Thread counts, comma-separated (default: 1 .. all CPUs)");
  app.add_option("--size", o->size_mib, "Read buffer in MiB (far larger than the last-level cache)")->capture_default_str();
  app.add_option("-r,--repetitions", o->reps, "Passes per thread count")->capture_default_str();
  app.add_option("-p,--n-prompt", o->n_prompt, "Roofline: positions already cached")->capture_default_str();
  app.add_option("-n,--n-gen", o->n_gen, "Roofline: tokens generated (the KV read is averaged over them)")->capture_default_str();
  app.add_flag("--json", o->json, "Print JSON");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("hw", "Memory bandwidth per thread count and a model's decode roofline", setup);

}  // namespace mnemo::cli
