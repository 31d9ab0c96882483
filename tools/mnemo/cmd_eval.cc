// mnemo eval: task evaluations of a model. `mnemo eval passkey`: passkey retrieval accuracy by
// needle depth and prompt length (mnemo/passkey.h), the test that tells KV-cache policies apart.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "common_options.h"
#include "mnemo/mnemo.h"
#include "mnemo/passkey.h"

namespace mnemo::cli {
namespace {

struct PasskeyOptions {
  ModelOptions model;
  EngineOptions engine;
  ContextOptions context;
  JsonOption json;
  PasskeyParams params;
  std::string filler_file;
  bool no_needle = false;
  bool verbose = false;
};

void print_table(const PasskeyOptions& o, const PasskeyResult& r, bool nll) {
  std::printf("%-14s", nll ? "nll \\ length" : "depth \\ length");
  for (int64_t len : o.params.lengths) std::printf(" %8lld", static_cast<long long>(len));
  std::printf(" %8s\n", "all");
  const size_t nd = o.params.depths.size();
  for (size_t d = 0; d < nd; ++d) {
    std::printf("%-14.2f", o.params.depths[d]);
    int64_t n = 0, c = 0;
    double s = 0;
    for (size_t l = 0; l < o.params.lengths.size(); ++l) {
      const PasskeyCell& cell = r.cells[l * nd + d];
      if (nll) {
        std::printf(" %8.3f", cell.nll);
      } else {
        std::printf(" %7.1f%%", 100.0 * cell.accuracy());
      }
      n += cell.trials;
      c += cell.correct;
      s += cell.nll * static_cast<double>(cell.trials);
    }
    if (nll) {
      std::printf(" %8.3f\n", s / static_cast<double>(n));
    } else {
      std::printf(" %7.1f%%\n", 100.0 * static_cast<double>(c) / static_cast<double>(n));
    }
  }
  std::printf("%-14s", "all");
  for (size_t l = 0; l < o.params.lengths.size(); ++l) {
    int64_t n = 0, c = 0;
    double s = 0;
    for (size_t d = 0; d < nd; ++d) {
      const PasskeyCell& cell = r.cells[l * nd + d];
      n += cell.trials;
      c += cell.correct;
      s += cell.nll * static_cast<double>(cell.trials);
    }
    if (nll) {
      std::printf(" %8.3f", s / static_cast<double>(n));
    } else {
      std::printf(" %7.1f%%", 100.0 * static_cast<double>(c) / static_cast<double>(n));
    }
  }
  if (nll) {
    std::printf(" %8.3f\n", r.nll);
  } else {
    std::printf(" %7.1f%%\n", 100.0 * r.accuracy());
  }
}

void print_result(const PasskeyOptions& o, const PasskeyResult& r, double seconds, const ContextMemory& cm) {
  if (o.json.json) {
    nlohmann::ordered_json j;
    j["model"] = o.model.model;
    j["kv_policy"] = cm.kv_policy;
    j["kv_budget"] = cm.kv_budget;
    j["needle"] = o.params.needle;
    j["filler"] = o.filler_file.empty() ? "builtin" : o.filler_file;
    j["trials_per_cell"] = o.params.trials;
    j["seed"] = o.params.seed;
    j["accuracy"] = r.accuracy();
    j["correct"] = r.correct;
    j["n"] = r.n;
    j["nll"] = r.nll;
    auto cells = nlohmann::ordered_json::array();
    for (const PasskeyCell& c : r.cells) {
      cells.push_back({{"length", c.length}, {"depth", c.depth}, {"trials", c.trials}, {"correct", c.correct},
                       {"accuracy", c.accuracy()}, {"nll", c.nll}});
    }
    j["cells"] = cells;
    j["seconds"] = seconds;
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("passkey retrieval: %s, %lld trials per cell, %s, filler %s, KV policy %s (%lld slots)\n",
              o.model.model.c_str(), static_cast<long long>(o.params.trials),
              o.params.needle ? "needle in the prompt" : "control: needle left out",
              o.filler_file.empty() ? "built-in" : o.filler_file.c_str(), cm.kv_policy.c_str(),
              static_cast<long long>(cm.kv_budget));
  std::printf("accuracy (greedy answer = key):\n");
  print_table(o, r, false);
  std::printf("mean NLL of the key's digits (nats per token, teacher forced):\n");
  print_table(o, r, true);
  std::printf("%lld/%lld correct (%.1f%%) in %.1f s\n", static_cast<long long>(r.correct), static_cast<long long>(r.n),
              100.0 * r.accuracy(), seconds);
}

Status run_passkey(PasskeyOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(auto engine, o.engine.create());
  MNEMO_ASSIGN_OR_RETURN(auto model, Model::load(o.model.model, o.model.params(engine)));
  MNEMO_RETURN_IF_ERROR(o.context.check(*model));
  if (!o.filler_file.empty()) {
    MNEMO_ASSIGN_OR_RETURN(o.params.filler, read_filler_lines(o.filler_file));
  }
  o.params.needle = !o.no_needle;
  const Tokenizer& tok = model->tokenizer();
  ContextParams cp = o.context.params();
  o.context.apply(cp);
  const int64_t n_ctx = cp.n_ctx > 0 ? cp.n_ctx : model->info().n_ctx_train;
  MNEMO_RETURN_IF_ERROR(validate(o.params, tok, n_ctx));  // before the context is allocated
  MNEMO_ASSIGN_OR_RETURN(auto ctx, Context::create(*model, cp));
  const double t0 = now_seconds();
  auto progress = [&](int64_t done, int64_t total, const PasskeyTrial& t) {
    if (o.verbose) {
      std::fprintf(stderr, "mnemo: passkey length %lld depth %.2f trial %lld: needle at token %lld, key %s, answer %s%s, nll %.3f\n",
                   static_cast<long long>(t.length), t.depth, static_cast<long long>(t.index),
                   static_cast<long long>(t.needle_token), t.key.c_str(), t.answer.empty() ? "(none)" : t.answer.c_str(),
                   t.correct ? " (right)" : " (wrong)", t.nll);
    } else if (!o.json.json && (done % 10 == 0 || done == total)) {
      std::fprintf(stderr, "\rmnemo: passkey: %lld/%lld prompts, %.1f s", static_cast<long long>(done),
                   static_cast<long long>(total), now_seconds() - t0);
      if (done == total) std::fputc('\n', stderr);
      std::fflush(stderr);
    }
  };
  MNEMO_ASSIGN_OR_RETURN(const PasskeyResult r, evaluate_passkey(*ctx, tok, o.params, progress));
  print_result(o, r, now_seconds() - t0, ctx->memory());
  if (o.verbose || !o.engine.mem.empty()) print_memory_report(*engine, ctx.get());
  return Status::ok();
}

void setup_passkey(CLI::App& app, std::shared_ptr<PasskeyOptions> o) {
  o->model.add_to(app);
  o->engine.add_to(app);
  o->context.add_to(app, 0, "Context positions (0: the model's training context); must hold the longest prompt and its answer");
  o->context.add_kv_policy(app);
  app.add_option("--lengths", o->params.lengths, "Lengths in tokens, comma-separated: BOS, filler, needle, question and the key's tokens (at most -c)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--depths", o->params.depths,
                 "Needle depths, fractions of the filler: 0 right after BOS, 1 right before the question")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--trials", o->params.trials, "Prompts per (length, depth), each with its own key and filler")
      ->capture_default_str();
  app.add_option("--seed", o->params.seed, "Seed of keys and filler offsets")->capture_default_str();
  app.add_option("--digits", o->params.digits, "Digits of the key")->capture_default_str();
  app.add_option("--filler", o->filler_file,
                 "Filler text file (its non-empty lines, from a random line on); default: the built-in line \"The grass "
                 "is green. The sky is blue. ...\"");
  app.add_flag("--no-needle", o->no_needle, "Control: leave the needle out (a model reading the context then fails)");
  o->json.add_to(app, "Print one JSON line {accuracy, nll, cells: [{length, depth, trials, correct, accuracy, nll}], ...}");
  app.add_flag("-v,--verbose", o->verbose, "Every trial on stderr (key, answer, NLL); the memory report");
}

RunFn setup(CLI::App& app) {
  app.require_subcommand(1);
  auto passkey = std::make_shared<PasskeyOptions>();
  CLI::App* sub = app.add_subcommand("passkey", "Passkey retrieval: accuracy by needle depth and prompt length");
  setup_passkey(*sub, passkey);
  return [passkey, sub]() -> Status {
    if (sub->parsed()) return run_passkey(*passkey);
    return usage_error("eval: expected a task (passkey)");
  };
}

}  // namespace

MNEMO_COMMAND("eval", "Task evaluations: passkey retrieval by depth and length", setup);

}  // namespace mnemo::cli
