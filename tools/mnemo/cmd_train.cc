// mnemo train: train a llama model from a JSON config (see docs/TRAINING.md), or --estimate its
// memory first. Progress on stderr, one line per step; the summary (and the estimate beside the
// measured memory) on stdout.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "mnemo/train.h"
#include "mnemo/util.h"

namespace mnemo::cli {
namespace {

struct TrainCliOptions {
  std::string config;
  bool estimate = false;
  std::string resume;
  int threads = -1;
  int64_t stop_after = -1;
  int64_t steps = -1;
  bool json = false;
  bool quiet = false;
  int ranks = 0;  // --estimate for this many data-parallel ranks (0: 1, and the table for 1, 2, 4, 8)
  bool resume_allow_changes = false;
};

std::string mib(uint64_t b) { return str_printf("%.1fM", static_cast<double>(b) / (1024.0 * 1024.0)); }

nlohmann::ordered_json estimate_json(const TrainMemoryEstimate& e) {
  nlohmann::ordered_json j;
  j["parameters"] = e.parameters;
  j["gradients"] = e.gradients;
  j["optimizer"] = e.optimizer;
  j["activations"] = e.activations;
  j["data"] = e.data;
  j["workspace"] = e.workspace;
  j["total"] = e.total();
  for (const auto& [name, bytes] : e.detail) j["detail"][name] = bytes;
  return j;
}

void print_estimate(const TrainConfig& c, const TrainMemoryEstimate& e) {
  std::printf("memory estimate for %s (bytes allocated by the run, beyond the process's baseline):\n",
              c.path.c_str());
  auto row = [&](const std::string& name, const std::string& cls, uint64_t b) {
    std::printf("  %-40s %12s\n", name.c_str(), format_bytes(b).c_str());
    for (const auto& [detail, bytes] : e.detail) {
      if (bytes > 0 && detail.rfind(cls + ": ", 0) == 0) {
        std::printf("    %-38s %12s\n", detail.substr(cls.size() + 2).c_str(), format_bytes(bytes).c_str());
      }
    }
  };
  row("parameters (fp32)", "parameters", e.parameters);
  row("gradients (fp32)", "gradients", e.gradients);
  row("optimizer state (" + c.optimizer.type + ")", "optimizer", e.optimizer);
  row("activations", "activations", e.activations);
  row("data (token ids, batches)", "data", e.data);
  row("workspace", "workspace", e.workspace);
  row("total", "total", e.total());
}

// Model-state bytes per rank for every ZeRO stage and rank count (src/train/zero.h's formulas).
Status print_zero_table(const TrainConfig& c, const std::vector<int>& ranks, nlohmann::ordered_json* j) {
  MNEMO_ASSIGN_OR_RETURN(std::vector<ZeroStateEstimate> z, estimate_zero_states(c, ranks));
  if (j != nullptr) {
    for (const ZeroStateEstimate& e : z) {
      (*j)["zero"].push_back({{"stage", e.stage}, {"ranks", e.ranks}, {"parameters", e.parameters},
                              {"gradients", e.gradients}, {"optimizer", e.optimizer}, {"total", e.total()}});
    }
    return Status::ok();
  }
  std::printf("model states per rank (fp32 parameters + gradients + AdamW m, v; ZeRO formulas):\n  %-34s",
              "stage");
  for (int n : ranks) std::printf(" %11s", str_printf("N=%d", n).c_str());
  std::printf("\n");
  static const char* names[] = {"0 data parallel (16P)", "1 optimizer sharded (8P + 8P/N)",
                                "2 gradients too (4P + 12P/N)", "3 parameters too (16P/N)"};
  for (size_t i = 0; i < z.size(); i += ranks.size()) {
    std::printf("  %-34s", names[z[i].stage]);
    for (size_t k = 0; k < ranks.size(); ++k) std::printf(" %11s", format_bytes(z[i + k].total()).c_str());
    std::printf("\n");
  }
  return Status::ok();
}

Status run_estimate(const TrainConfig& c, const TrainCliOptions& o) {
  const int n = o.ranks > 0 ? o.ranks : 1;
  const std::vector<int> table = o.ranks > 0 ? std::vector<int>{o.ranks} : std::vector<int>{1, 2, 4, 8};
  MNEMO_ASSIGN_OR_RETURN(TrainMemoryEstimate e, estimate_train_memory(c, n));
  if (o.json) {
    nlohmann::ordered_json j = estimate_json(e);
    j["ranks"] = n;
    j["zero_stage"] = c.zero_stage;
    MNEMO_RETURN_IF_ERROR(print_zero_table(c, table, &j));
    std::printf("%s\n", j.dump().c_str());
    return Status::ok();
  }
  print_estimate(c, e);
  if (n > 1 || c.zero_stage > 0) {
    std::printf("  (per rank of %d, zero_stage %lld)\n", n, static_cast<long long>(c.zero_stage));
  }
  return print_zero_table(c, table, nullptr);
}

Status run(const TrainCliOptions& o) {
  MNEMO_ASSIGN_OR_RETURN(TrainConfig c, load_train_config(o.config));
  if (o.steps > 0) c.steps = o.steps;  // also the length of the cosine schedule
  if (o.estimate) return run_estimate(c, o);
  if (o.ranks > 0) return invalid_argument("--ranks: only with --estimate (a run's ranks are mpirun's -np)");
  TrainOptions opt;
  opt.resume = o.resume;
  opt.threads = o.threads;
  opt.stop_after = o.stop_after;
  opt.resume_allow_changes = o.resume_allow_changes;
  opt.on_message = [](const std::string& m) { std::fprintf(stderr, "mnemo: train: %s\n", m.c_str()); };
  const bool quiet = o.quiet;
  opt.on_progress = [quiet](const TrainProgress& p) {
    if (p.rank != 0 || (quiet && p.eval_loss < 0 && p.sample.empty())) return;
    std::string eval = p.eval_loss >= 0 ? str_printf(" | eval %.4f", p.eval_loss) : "";
    // Checkpoint costs: the loop's blocked time (of which waiting for the previous write) and the
    // background write time, on the line of the step where each became known.
    std::string ckpt;
    if (p.ckpt_blocked >= 0) {
      ckpt += str_printf(" | ckpt blocked %.1f ms (wait %.1f)", 1e3 * p.ckpt_blocked, 1e3 * p.ckpt_wait_previous);
    }
    if (p.ckpt_write >= 0) ckpt += str_printf(" | ckpt write %.1f ms", 1e3 * p.ckpt_write);
    const TrainMemoryEstimate* a = p.allocated;
    std::fprintf(stderr,
                 "step %6lld/%lld | loss %.4f%s | lr %.2e | norm %.3f | %6.0f tok/s | %.2f s | params %s grads %s "
                 "opt %s act %s rss %s%s%s\n",
                 static_cast<long long>(p.step), static_cast<long long>(p.steps), p.loss, eval.c_str(), p.lr,
                 p.grad_norm, p.tokens_per_second, p.step_seconds, mib(a->parameters).c_str(),
                 mib(a->gradients).c_str(), mib(a->optimizer).c_str(), mib(a->activations).c_str(),
                 mib(p.rss_bytes).c_str(),
                 p.ranks > 1 || p.zero_stage > 0
                     ? str_printf(" | zero %d x%d states %s sent %s", p.zero_stage, p.ranks,
                                  mib(p.model_state_bytes).c_str(), mib(p.comm_bytes).c_str()).c_str()
                     : "",
                 ckpt.c_str());
    if (!p.sample.empty()) std::fprintf(stderr, "sample: %s\n", p.sample.c_str());
    if (!p.checkpoint.empty()) std::fprintf(stderr, "checkpoint: %s\n", p.checkpoint.c_str());
  };
  MNEMO_ASSIGN_OR_RETURN(TrainReport r, run_training(c, opt));
  const uint64_t measured = r.peak_rss_bytes > r.baseline_rss_bytes ? r.peak_rss_bytes - r.baseline_rss_bytes : 0;
  const double ratio = r.estimate.total() > 0 ? static_cast<double>(measured) / static_cast<double>(r.estimate.total()) : 0;
  const double last_eval = r.eval_losses.empty() ? -1.0 : r.eval_losses.back().second;
  if (o.json) {
    nlohmann::ordered_json j;
    j["steps_done"] = r.steps_done;
    j["first_step"] = r.first_step;
    j["loss"] = r.losses.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(r.losses.back());
    j["eval_loss"] = last_eval >= 0 ? nlohmann::ordered_json(last_eval) : nlohmann::ordered_json();
    j["losses"] = r.losses;
    for (const auto& [s, l] : r.eval_losses) j["eval_losses"].push_back({s, l});
    j["seconds"] = r.seconds;
    j["tokens_per_second"] = r.tokens_per_second;
    j["flops_per_token"] = r.flops_per_token;
    j["threads"] = r.threads;
    j["estimate"] = estimate_json(r.estimate);
    j["allocated"] = estimate_json(r.allocated);
    j["baseline_rss_bytes"] = r.baseline_rss_bytes;
    j["peak_rss_bytes"] = r.peak_rss_bytes;
    j["measured_bytes"] = measured;
    j["output"] = r.output;
    j["checkpoint"] = r.last_checkpoint;
    j["checkpoint_mode"] = c.checkpoint.mode;
    j["checkpoint_times"] = nlohmann::ordered_json::array();
    for (const auto& t : r.checkpoint_times) {
      j["checkpoint_times"].push_back(
          {{"step", t.step}, {"blocked_seconds", t.blocked}, {"wait_previous_seconds", t.wait_previous},
           {"write_seconds", t.write}});
    }
    j["rank"] = r.rank;
    j["ranks"] = r.ranks;
    j["zero_stage"] = r.zero_stage;
    j["model_state_bytes"] = r.model_state_bytes;
    j["model_state_formula"] = r.model_state_formula;
    j["comm_bytes_per_step"] = {{"all_reduce", r.comm_all_reduce}, {"reduce_scatter", r.comm_reduce_scatter},
                                {"all_gather", r.comm_all_gather}, {"total", r.comm_total}};
    std::printf("%s\n", j.dump().c_str());
    return Status::ok();
  }
  if (r.rank != 0) return Status::ok();  // rank 0 reports the run
  std::printf("trained %lld steps (%lld..%lld) in %.1f s: %.0f tokens/s on %d threads, %.2f GFLOP/s\n",
              static_cast<long long>(r.steps_done - r.first_step), static_cast<long long>(r.first_step),
              static_cast<long long>(r.steps_done), r.seconds, r.tokens_per_second, r.threads,
              r.tokens_per_second * r.flops_per_token / 1e9);
  if (!r.losses.empty()) std::printf("final loss %.4f", r.losses.back());
  if (last_eval >= 0) std::printf(", held-out loss %.4f (perplexity %.3f)", last_eval, std::exp(last_eval));
  std::printf("\n");
  std::printf("memory: estimated %s, measured %s (peak RSS %s - baseline %s), measured/estimated %.3f\n",
              format_bytes(r.estimate.total()).c_str(), format_bytes(measured).c_str(),
              format_bytes(r.peak_rss_bytes).c_str(), format_bytes(r.baseline_rss_bytes).c_str(), ratio);
  std::printf("  %-12s %12s %12s\n", "class", "estimated", "allocated");
  auto row = [](const char* n, uint64_t e, uint64_t a) {
    std::printf("  %-12s %12s %12s\n", n, format_bytes(e).c_str(), format_bytes(a).c_str());
  };
  row("parameters", r.estimate.parameters, r.allocated.parameters);
  row("gradients", r.estimate.gradients, r.allocated.gradients);
  row("optimizer", r.estimate.optimizer, r.allocated.optimizer);
  row("activations", r.estimate.activations, r.allocated.activations);
  row("data", r.estimate.data, r.allocated.data);
  if (r.ranks > 1 || r.zero_stage > 0) {
    std::printf("zero_stage %d on %d ranks: model states per rank %s (formula %s); sent per rank per step %s "
                "(all-reduce %s, reduce-scatter %s, all-gather %s)\n",
                r.zero_stage, r.ranks, format_bytes(r.model_state_bytes).c_str(),
                format_bytes(r.model_state_formula).c_str(), format_bytes(r.comm_total).c_str(),
                format_bytes(r.comm_all_reduce).c_str(), format_bytes(r.comm_reduce_scatter).c_str(),
                format_bytes(r.comm_all_gather).c_str());
  }
  if (!r.output.empty()) std::printf("wrote %s\n", r.output.c_str());
  if (!r.last_checkpoint.empty()) std::printf("checkpoint %s\n", r.last_checkpoint.c_str());
  return Status::ok();
}

RunFn setup(CLI::App& app) {
  auto o = std::make_shared<TrainCliOptions>();
  app.add_option("-c,--config", o->config, "Training config (JSON; see docs/TRAINING.md)")->required();
  app.add_flag("--estimate", o->estimate, "Print the memory the run will use, by class, and exit");
  app.add_option("--resume", o->resume, "Continue from a checkpoint file, or the newest in a directory");
  app.add_option("-t,--threads", o->threads, "Worker threads (overrides the config; 0 = all CPUs)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--stop-after", o->stop_after, "Stop after this many steps (writes a checkpoint if configured)")
      ->check(CLI::PositiveNumber);
  app.add_option("--steps", o->steps,
                 "Steps of the run, overriding the config's `steps` (and so the learning-rate schedule's length)")
      ->check(CLI::PositiveNumber);
  app.add_option("--ranks", o->ranks, "With --estimate: per rank of this many data-parallel ranks")
      ->check(CLI::PositiveNumber);
  app.add_flag("--resume-allow-changes", o->resume_allow_changes,
               "Resume even when seed, batch, sequence length, accumulation, data or ranks differ (each printed)");
  app.add_flag("--json", o->json, "Print the estimate or the final report as one JSON line");
  app.add_flag("-q,--quiet", o->quiet, "Progress only at evaluations");
  return [o] { return run(*o); };
}

}  // namespace

MNEMO_COMMAND("train", "Train a llama model from a JSON config (or --estimate its memory)", setup);

}  // namespace mnemo::cli
