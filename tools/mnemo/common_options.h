// tools/mnemo/common_options.h: options shared by several commands, each declared once here with
// one meaning everywhere: -m/-z/--no-mmap/--mlock (the model), -t/--mem (the engine: threads and
// memory budget), -c (context size), --cache-type-k/-v (-ctk/-ctv: the KV cache types), --kv-policy,
// --kv-budget, --kv-sinks, --kv-recent (KV budget policies), --json, --host/--port (the HTTP
// servers), --chat-template.
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "mnemo/mnemo.h"
#include "mnemo/roofline.h"

namespace mnemo::cli {

struct EngineOptions {
  int threads = 0;
  std::string mem;
  std::string hw;

  void add_to(CLI::App& app, bool with_threads = true) {
    if (with_threads) {
      app.add_option("-t,--threads", threads, "Worker threads (0 = all CPUs; more than the CPUs are capped)")
          ->default_val(0)
          ->check(CLI::NonNegativeNumber);
    }
    app.add_option("--mem", mem,
                   "Memory budget: 600M, 2G, 1.5GiB, 80% (of physical memory). Everything mnemo holds (the runtime, "
                   "weights, KV cache, activations) is planned within it; default: what the machine has available");
    app.add_option("--hw", hw,
                   "Hardware profile for the roofline planner: a JSON file from `mnemo hw --save`, or a built-in "
                   "name; default: " + default_profile_path() + " when it exists");
  }
  static std::string default_profile_path() {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    const std::string dir = xdg && *xdg ? std::string(xdg) : std::string(home ? home : ".") + "/.cache";
    return dir + "/mnemo/hw.json";
  }
  // The profile the planner uses: --hw, else the saved one, else none (nullopt).
  Expected<std::optional<HardwareProfile>> profile() const {
    if (!hw.empty()) {
      MNEMO_ASSIGN_OR_RETURN(HardwareProfile p, resolve_hardware_profile(hw));
      return std::optional<HardwareProfile>(std::move(p));
    }
    if (!std::ifstream(default_profile_path()).good()) return std::optional<HardwareProfile>();
    MNEMO_ASSIGN_OR_RETURN(HardwareProfile p, load_hardware_profile(default_profile_path()));
    return std::optional<HardwareProfile>(std::move(p));
  }
  // The engine every model of the command is loaded with. A bad budget exits 1 (not a usage error).
  Expected<std::shared_ptr<Engine>> create(int n_threads_override = -1) const {
    EngineParams p;
    p.n_threads = n_threads_override >= 0 ? n_threads_override : threads;
    if (!mem.empty()) {
      auto bytes = parse_memory_budget(mem);
      if (!bytes.has_value()) return Status(StatusCode::kOutOfRange, "--mem: " + bytes.status().message());
      p.budget_bytes = *bytes;
    }
    return Engine::create(p);
  }
};

struct ModelOptions {
  std::string model;
  std::string tokenizer;
  bool no_mmap = false;
  bool mlock = false;

  void add_to(CLI::App& app, bool with_tokenizer = true) {
    app.add_option("-m,--model", model, "Model file: GGUF or llama2.c checkpoint (.bin)")->required();
    if (with_tokenizer) {
      app.add_option("-z,--tokenizer", tokenizer,
                     "Tokenizer file (tokenizer.bin or GGUF); required for llama2.c checkpoints");
    }
    app.add_flag("--no-mmap", no_mmap, "Read the weights into memory instead of mapping the file");
    app.add_flag("--mlock", mlock, "Lock the weights in RAM");
  }
  ModelParams params(std::shared_ptr<Engine> engine = nullptr) const {
    ModelParams p;
    p.engine = std::move(engine);
    p.use_mmap = !no_mmap;
    p.use_mlock = mlock;
    p.tokenizer_path = tokenizer;
    return p;
  }
};

// -c: checked before anything is allocated; above the training context a warning.
// --cache-type-k/--cache-type-v: the KV cache types of every context the command makes (llama.cpp's
// -ctk/-ctv are accepted too: main.cc rewrites them, as CLI11 has no multi-letter short options).
struct ContextOptions {
  int64_t n_ctx = 0;
  std::string type_k, type_v;  // empty: the default (see ContextParams)
  void add_to(CLI::App& app, int64_t default_ctx, const char* help) {
    n_ctx = default_ctx;
    app.add_option("-c,--ctx-size", n_ctx, help)->capture_default_str();
    add_kv_types(app);
  }
  // For commands without -c (bench, roofline).
  void add_kv_types(CLI::App& app) {
    const std::string rule =
        ": f32, f16, q8_0 or q4_0 (q8_0 and q4_0 need a head size that is a multiple of 32). "
        "Default: f16, as "
        "llama.cpp; f32 for models whose weights are F32, so that their greedy text stays "
        "llama2.c's";
    app.add_option("--cache-type-k", type_k, "KV cache type of K (also -ctk)" + rule)
        ->check(CLI::IsMember(kv_cache_type_names()));
    app.add_option("--cache-type-v", type_v, "KV cache type of V (also -ctv)" + rule)
        ->check(CLI::IsMember(kv_cache_type_names()));
  }
  // --kv-budget/--kv-policy/--kv-sinks/--kv-recent: every sequence's KV budget policy (docs/KV.md).
  std::string kv_budget, kv_policy;
  int64_t kv_sinks = 4, kv_recent = 0;
  void add_kv_policy(CLI::App& app) {
    app.add_option("--kv-policy", kv_policy,
                   "KV budget policy: full (keep everything), window (the last tokens), sinks (StreamingLLM: the "
                   "first --kv-sinks and the last), h2o (H2O: heavy hitters by accumulated attention and the last "
                   "--kv-recent), kvmerger (KVMerger: merges similar adjacent keys, keeps the last --kv-recent)")
        ->check(CLI::IsMember({"full", "window", "sinks", "h2o", "kvmerger"}));
    app.add_option("--kv-budget", kv_budget,
                   "KV slots a sequence keeps under --kv-policy: a fraction of the context (0.5) or tokens (1024)");
    app.add_option("--kv-sinks", kv_sinks, "sinks: the first slots always kept")->capture_default_str();
    app.add_option("--kv-recent", kv_recent, "h2o, kvmerger: the last slots always kept (0: half the budget)")
        ->capture_default_str();
  }
  void apply(ContextParams& cp) const {
    cp.type_k = type_k;
    cp.type_v = type_v;
    cp.kv_policy = kv_policy;
    cp.kv_budget = kv_budget;
    cp.kv_sinks = kv_sinks;
    cp.kv_recent = kv_recent;
  }
  bool budgeted() const { return !kv_policy.empty() && kv_policy != "full"; }
  // The context every command creates from these options (n_ctx 0: the model's training context).
  ContextParams params() const {
    ContextParams p;
    p.n_ctx = n_ctx;
    return p;
  }
  Status check(const Model& model) const {
    if (n_ctx < 0) {
      return Status(StatusCode::kOutOfRange,
                    str_printf("-c %lld: expected a positive context size (or 0 for the model's)", static_cast<long long>(n_ctx)));
    }
    const int64_t train = model.info().n_ctx_train;
    if (train > 0 && n_ctx > train) {
      std::fprintf(stderr, "mnemo: warning: -c %lld is above the model's training context of %lld; quality may degrade\n",
                   static_cast<long long>(n_ctx), static_cast<long long>(train));
    }
    return check_kv_types(model);
  }
  // A type the model cannot hold (a block type on heads that are not whole blocks): a usage error
  // naming the flag.
  Status check_kv_types(const Model& model) const {
    for (const auto& [flag, k, v] : {std::tuple{"--cache-type-k", type_k, std::string()},
                                     std::tuple{"--cache-type-v", std::string(), type_v}}) {
      auto t = kv_cache_types(model, k, v);
      if (!t.has_value())
        return Status(t.status().code(), std::string(flag) + ": " + t.status().message());
    }
    return Status::ok();
  }
};

// --host/--port of the HTTP servers (serve, memory serve); each keeps its own default port.
inline void add_listen_options(CLI::App& app, std::string& host, int& port, int default_port) {
  host = "127.0.0.1";
  port = default_port;
  app.add_option("--host", host, "Address to listen on")->capture_default_str();
  app.add_option("--port", port, "Port to listen on (0: any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
}

// --chat-template (run --chat, serve): a Jinja template file or a built-in format name.
inline void add_chat_template_option(CLI::App& app, std::string& target, const std::string& when) {
  app.add_option("--chat-template", target,
                 when + "a Jinja template file, or a built-in format (chatml, llama2, llama3, mistral, gemma, "
                        "phi3, zephyr, vicuna), instead of the model's tokenizer.chat_template");
}

// The batch the planner lowers to first when the budget is short: the roofline's ridge (1 without
// a profile, or when no batch up to `n_batch` is compute-bound).
inline int64_t ridge_batch(const std::optional<HardwareProfile>& hw, const Model& model, int64_t n_batch) {
  if (!hw) return 1;
  auto r = prefill_ridge_batch(*hw, model.info(), model.engine().n_threads(), n_batch);
  return r.has_value() && *r > 0 ? *r : 1;
}

struct JsonOption {
  bool json = false;
  void add_to(CLI::App& app, const char* what) { app.add_flag("--json", json, what); }
};

// The least budget a command needs: what the engine holds now, with each context at its smallest.
// Commands that create contexts one after another (bench) pass the largest of these.
inline uint64_t minimum_budget(const Engine& engine, const Context* ctx) {
  uint64_t m = engine.used_bytes();
  if (ctx != nullptr) {
    const ContextMemory cm = ctx->memory();
    m = m - cm.kv_reserved_bytes - cm.activation_bytes + cm.min_bytes;
  }
  return m;
}

// On stderr: the budget and what holds it, what the planner shrank, and one JSON line with the
// figures in bytes ({"budget", "used", "peak", "minimum", "peak_rss"}) for scripts.
inline void print_memory_report(const Engine& engine, const Context* ctx, uint64_t minimum = 0) {
  std::fprintf(stderr, "mnemo: memory %s", engine.describe().c_str());
  if (ctx != nullptr && !ctx->memory().adjusted.empty()) {
    std::fprintf(stderr, "; fitted to the budget: %s", ctx->memory().adjusted.c_str());
  }
  const uint64_t rss = process_memory().peak_rss_bytes;
  std::fprintf(stderr, " | peak RSS %s\n", format_bytes(rss).c_str());
  if (minimum == 0) minimum = minimum_budget(engine, ctx);
  std::fprintf(stderr,
               "mnemo: memory {\"budget\": %llu, \"used\": %llu, \"peak\": %llu, \"minimum\": %llu, \"peak_rss\": %llu}\n",
               static_cast<unsigned long long>(engine.budget_bytes()), static_cast<unsigned long long>(engine.used_bytes()),
               static_cast<unsigned long long>(engine.peak_bytes()), static_cast<unsigned long long>(minimum),
               static_cast<unsigned long long>(rss));
}

}  // namespace mnemo::cli
