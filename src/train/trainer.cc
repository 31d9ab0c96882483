// The training loop (include/mnemo/train.h): setup, data, resume, steps, evaluation, samples,
// checkpoints, the GGUF at the end; and `mnemo tokenize`.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "base/file.h"
#include "base/strings.h"
#include "base/thread_pool.h"
#include "mnemo/train.h"
#include "mnemo/util.h"
#include "model/llama.h"
#include "model/sampler.h"
#include "train/blas.h"
#include "train/buffer.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/export.h"
#include "train/graph.h"
#include "train/optimizer.h"
#include "train/rng.h"
#include "train/setup.h"

namespace mnemo {
namespace {

using namespace train;

Expected<std::string> resolve_resume(const std::string& arg) {
  std::error_code ec;
  if (std::filesystem::is_directory(arg, ec)) {
    const auto list = list_checkpoints(arg);
    if (list.empty()) return not_found(arg + ": expected checkpoints (ckpt_<step>.bin), found none");
    return list.back().second;
  }
  return arg;
}

// Mean loss over the first `batches` batches of the held-out data (the same ones every time).
double evaluate(TrainGraph& g, DataLoader& loader, int64_t batches, const float* params, std::vector<int32_t>& buf) {
  (void)loader.set_state(DataLoader::State{});
  double sum = 0.0;
  for (int64_t b = 0; b < batches; ++b) {
    loader.next(buf.data());
    sum += g.forward(params, buf.data(), buf.data() + 1, 0.0f);
  }
  return sum / static_cast<double>(batches);
}

// The continuation of prompt by the model as it is now (inference path of model/llama.h).
Expected<std::string> generate(const TrainShape& s, const ParamLayout& layout, const float* params,
                               const Tokenizer& tok, const TrainEvalConfig& e, uint64_t seed, ThreadPool& pool) {
  MNEMO_ASSIGN_OR_RETURN(auto model, inference_model(s, layout, params));
  std::vector<Token> prompt = tok.encode(e.prompt, /*add_bos=*/true);
  if (prompt.empty()) return std::string();
  if (static_cast<int64_t>(prompt.size()) >= s.n_ctx) prompt.resize(static_cast<size_t>(s.n_ctx / 2));
  const int64_t n_ctx = std::min<int64_t>(s.n_ctx, static_cast<int64_t>(prompt.size()) + e.sample_tokens);
  MNEMO_ASSIGN_OR_RETURN(auto session,
                         LlamaSession::create(model, n_ctx, static_cast<int64_t>(prompt.size()), false, &pool));
  MNEMO_RETURN_IF_ERROR(session->forward(prompt, 0, false));
  SamplingParams sp;
  sp.temperature = static_cast<float>(e.temperature);
  sp.seed = seed;
  TokenSampler sampler(static_cast<int32_t>(s.n_vocab), sp);
  std::vector<Token> out;
  int64_t pos = static_cast<int64_t>(prompt.size());
  while (pos < n_ctx) {
    const Token t = sampler.sample(session->logits());
    if (t == tok.eos() || t == tok.bos()) break;
    out.push_back(t);
    const Token one[1] = {t};
    MNEMO_RETURN_IF_ERROR(session->forward(one, pos++, false));
  }
  return e.prompt + tok.decode(out);
}

void prune_checkpoints(const std::string& dir, int64_t keep) {
  if (keep <= 0) return;
  auto list = list_checkpoints(dir);
  for (size_t i = 0; i + static_cast<size_t>(keep) < list.size(); ++i) {
    std::error_code ec;
    std::filesystem::remove(list[i].second, ec);
  }
}

std::string json_number(double v) { return std::isfinite(v) ? str_printf("%.17g", v) : "null"; }

}  // namespace

Expected<TrainReport> run_training(const TrainConfig& c, const TrainOptions& opt) {
  const uint64_t baseline = process_memory().rss_bytes;
  use_single_threaded_blas();
  auto note = [&](const std::string& m) {
    if (opt.on_message) opt.on_message(m);
  };
  MNEMO_ASSIGN_OR_RETURN(RunSetup s, prepare_run(c, opt.threads));
  TrainReport rep;
  rep.estimate = estimate_memory(c, s);
  rep.threads = s.n_threads;
  rep.baseline_rss_bytes = baseline;
  rep.flops_per_token = train_flops_per_step(s.shape, s.B, s.T) / static_cast<double>(s.B * s.T);
  const ParamLayout layout = ParamLayout::build(s.shape);
  const int64_t B = s.B, T = s.T, n = layout.n_params();

  // Data: every id checked against the vocabulary before anything is allocated.
  MNEMO_ASSIGN_OR_RETURN(TokenData train_data,
                         load_training_data(c.data.train, s.tokenizer, c.data.split, s.shape.n_vocab));
  TokenData val_data;
  const bool has_val = !c.data.val.empty();
  if (has_val) {
    MNEMO_ASSIGN_OR_RETURN(val_data, load_training_data({c.data.val}, s.tokenizer, c.data.split, s.shape.n_vocab));
  }
  // A checkpoint to resume: checksum and model checked before anything is allocated.
  std::string resume_path;
  CheckpointMeta meta;
  if (!opt.resume.empty()) {
    MNEMO_ASSIGN_OR_RETURN(resume_path, resolve_resume(opt.resume));
    MNEMO_ASSIGN_OR_RETURN(meta, read_checkpoint_meta(resume_path));
    MNEMO_RETURN_IF_ERROR(check_checkpoint_matches(meta, s.shape, s.opt, nullptr, resume_path));
    if (meta.step > c.steps) {
      return invalid_argument(str_printf("%s: expected a checkpoint at or before the run's last step %lld, found step %lld "
                                         "(raise steps, or --steps)",
                                         resume_path.c_str(), static_cast<long long>(c.steps),
                                         static_cast<long long>(meta.step)));
    }
    if (meta.n_params != n) {
      return invalid_argument(str_printf("%s: expected %lld parameters, found %lld", resume_path.c_str(),
                                         static_cast<long long>(n), static_cast<long long>(meta.n_params)));
    }
  }

  ThreadPool pool(s.n_threads);
  FloatBuffer params(n), grads(n);
  MNEMO_ASSIGN_OR_RETURN(auto optimizer, Optimizer::create(s.opt, layout, s.n_threads, c.path));
  TrainGraph graph(s.shape, layout, B, T, &pool);
  DataLoader loader(&train_data, B, T, c.data.shuffle, c.seed);
  std::unique_ptr<DataLoader> val_loader;
  if (has_val) val_loader = std::make_unique<DataLoader>(&val_data, B, T, false, c.seed);
  std::vector<int32_t> batch(static_cast<size_t>(B * T + 1)), vbatch(static_cast<size_t>(B * T + 1));
  Rng rng(c.seed ^ 0x73616d706c65ull);  // samples at evaluations
  int64_t step0 = 0, tokens = 0;
  if (!resume_path.empty()) {
    MNEMO_RETURN_IF_ERROR(check_checkpoint_matches(meta, s.shape, s.opt, &optimizer->state(), resume_path));
    MNEMO_RETURN_IF_ERROR(loader.set_state(meta.data).with_context(resume_path));
    MNEMO_RETURN_IF_ERROR(load_checkpoint(resume_path, meta, params.data(), optimizer->state()));
    optimizer->set_steps_taken(meta.step);
    rng.set_state(meta.rng);
    step0 = meta.step;
    tokens = meta.tokens;
    note(str_printf("resumed from %s at step %lld", resume_path.c_str(), static_cast<long long>(step0)));
  } else if (s.init_model) {
    MNEMO_RETURN_IF_ERROR(load_weights(*s.init_model, layout, params.data()));
    note("initialized from " + c.model.init_from);
  } else {
    init_params(s.shape, layout, static_cast<float>(c.model.init_std), c.seed, params.data());
  }
  rep.first_step = step0;

  TrainMemoryEstimate& al = rep.allocated;
  al.parameters = params.bytes();
  al.gradients = grads.bytes();
  al.optimizer = optimizer->state_bytes();
  al.activations = graph.bytes();
  al.data = 4 * static_cast<uint64_t>(train_data.n_tokens() + val_data.n_tokens()) +
            8 * static_cast<uint64_t>(train_data.doc_start.size() + val_data.doc_start.size()) +
            8 * static_cast<uint64_t>(train_data.n_docs() + val_data.n_docs()) + 4 * (batch.size() + vbatch.size());
  al.workspace = optimizer->workspace_bytes() + blas_bytes_per_thread() * static_cast<uint64_t>(s.n_threads);

  FILE* log = nullptr;
  if (!c.log.empty()) {
    log = std::fopen(c.log.c_str(), step0 > 0 ? "a" : "w");
    if (log == nullptr) return io_error(c.log + ": cannot open the log for writing");
  }
  struct Closer {
    FILE* f;
    ~Closer() {
      if (f != nullptr) std::fclose(f);
    }
  } closer{log};
  if (!c.checkpoint.dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(c.checkpoint.dir, ec);
    if (ec) return io_error(c.checkpoint.dir + ": cannot create the checkpoint directory: " + ec.message());
  }

  const int64_t tokens_per_step = B * T * s.accum;
  const float grad_scale = 1.0f / static_cast<float>(tokens_per_step);
  double step_time = 0.0;
  const double t_start = now_seconds();
  int64_t done = step0;
  for (int64_t step = step0; step < c.steps; ++step) {
    const double t0 = now_seconds();
    grads.zero();
    double loss = 0.0;
    for (int64_t a = 0; a < s.accum; ++a) {
      loader.next(batch.data());
      loss += graph.forward(params.data(), batch.data(), batch.data() + 1, grad_scale);
      graph.backward(params.data(), grads.data());
    }
    loss /= static_cast<double>(s.accum);
    if (!std::isfinite(loss)) {
      return out_of_range(str_printf("%s: training diverged: the loss is %g at step %lld (try a lower schedule.lr)",
                                     c.path.c_str(), loss, static_cast<long long>(step + 1)));
    }
    const double lr = s.sched.at(step);
    MNEMO_ASSIGN_OR_RETURN(double norm, optimizer->step(params.data(), grads.data(), static_cast<float>(lr), pool));
    const double dt = now_seconds() - t0;
    step_time += dt;
    tokens += tokens_per_step;
    done = step + 1;
    rep.losses.push_back(loss);

    TrainProgress p;
    p.step = done;
    p.steps = c.steps;
    p.loss = loss;
    p.lr = lr;
    p.grad_norm = norm;
    p.step_seconds = dt;
    p.tokens_per_second = static_cast<double>(tokens_per_step) / dt;
    p.tokens = tokens;
    const bool last = done == c.steps;
    const bool stop = opt.stop_after >= 0 && done >= opt.stop_after;
    if ((c.eval.interval > 0 && done % c.eval.interval == 0) || last) {
      if (has_val && c.eval.batches > 0) {
        p.eval_loss = evaluate(graph, *val_loader, c.eval.batches, params.data(), vbatch);
        rep.eval_losses.emplace_back(done, p.eval_loss);
      }
      if (!c.eval.prompt.empty() && c.eval.sample_tokens > 0) {
        MNEMO_ASSIGN_OR_RETURN(p.sample,
                               generate(s.shape, layout, params.data(), *s.tokenizer, c.eval, rng.next(), pool));
      }
    }
    if (!c.checkpoint.dir.empty() &&
        ((c.checkpoint.interval > 0 && done % c.checkpoint.interval == 0) || last || stop)) {
      CheckpointMeta m;
      m.shape = s.shape;
      m.optimizer = s.opt;
      m.step = done;
      m.tokens = tokens;
      m.n_params = n;
      m.data = loader.state();
      m.rng = rng.state();
      const std::string path = checkpoint_path(c.checkpoint.dir, done);
      MNEMO_RETURN_IF_ERROR(save_checkpoint(path, m, params.data(), optimizer->state()));
      prune_checkpoints(c.checkpoint.dir, c.checkpoint.keep);
      p.checkpoint = path;
      rep.last_checkpoint = path;
    }
    const ProcessMemory pm = process_memory();
    p.rss_bytes = pm.rss_bytes;
    p.peak_rss_bytes = pm.peak_rss_bytes;
    p.allocated = &rep.allocated;
    if (log != nullptr) {
      std::fprintf(log,
                   "{\"step\":%lld,\"loss\":%s,\"eval_loss\":%s,\"lr\":%s,\"grad_norm\":%s,\"tokens\":%lld,"
                   "\"tokens_per_second\":%.1f,\"seconds\":%.3f}\n",
                   static_cast<long long>(done), json_number(loss).c_str(),
                   p.eval_loss >= 0 ? json_number(p.eval_loss).c_str() : "null", json_number(lr).c_str(),
                   json_number(norm).c_str(), static_cast<long long>(tokens), p.tokens_per_second,
                   now_seconds() - t_start);
      std::fflush(log);
    }
    if (opt.on_progress) opt.on_progress(p);
    if (stop) break;
  }
  rep.steps_done = done;
  rep.seconds = now_seconds() - t_start;
  rep.tokens_per_second =
      step_time > 0 ? static_cast<double>(tokens_per_step) * static_cast<double>(done - step0) / step_time : 0.0;
  rep.peak_rss_bytes = process_memory().peak_rss_bytes;

  if (!c.output.empty() && done == c.steps) {
    ExportParams ep;
    ep.path = c.output;
    ep.name = c.name;
    ep.f16 = c.output_type == "f16";
    ep.vocab_path = s.vocab_path;
    ep.tokenizer = s.tokenizer;
    MNEMO_RETURN_IF_ERROR(export_gguf(ep, s.shape, layout, params.data()));
    rep.output = c.output;
    note("wrote " + c.output);
  }
  return rep;
}

Expected<TokenizeReport> tokenize_files(const TokenizeParams& p) {
  if (p.inputs.empty()) return invalid_argument("tokenize: expected at least one text file");
  if (p.output.empty()) return invalid_argument("tokenize: expected an output path (-o)");
  MNEMO_RETURN_IF_ERROR(check_split(p.split, "--split"));
  MNEMO_ASSIGN_OR_RETURN(auto tok, Tokenizer::load(p.tokenizer));
  TokenizeReport r;
  for (const std::string& in : p.inputs) {
    MNEMO_RETURN_IF_ERROR(check_openable_file(in, "text file"));
    std::error_code ec;
    const auto size = std::filesystem::file_size(in, ec);
    if (!ec) r.text_bytes += size;  // a pipe has no size: its text is read but not counted here
  }
  MNEMO_ASSIGN_OR_RETURN(TokenData d, tokenize_text(p.inputs, *tok, p.split));
  if (d.n_docs() == 0) return invalid_argument(p.inputs.front() + ": expected at least one document, found none");
  MNEMO_RETURN_IF_ERROR(write_token_file(p.output, d));
  r.documents = d.n_docs();
  r.tokens = d.n_tokens();
  r.n_vocab = d.n_vocab;
  return r;
}

}  // namespace mnemo
