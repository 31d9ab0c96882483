// The training loop (include/mnemo/train.h): setup, data, resume, steps, evaluation, samples,
// checkpoints, the GGUF at the end; and `mnemo tokenize`.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
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
#include "train/checkpoint_writer.h"
#include "train/comm.h"
#include "train/data.h"
#include "train/export.h"
#include "train/graph.h"
#include "train/optimizer.h"
#include "train/rng.h"
#include "train/setup.h"
#include "train/zero.h"

namespace mnemo {
namespace {

using namespace train;

// The checkpoint to resume and its verified metadata. A directory: its newest checkpoint that
// verifies; a corrupt or partial one (checksum, size, metadata) is skipped with a note naming the
// file and section, falling back to the previous one (checkpoint.keep of them are kept).
Expected<std::pair<std::string, CheckpointMeta>> resolve_resume(const std::string& arg,
                                                                 const std::function<void(const std::string&)>& note) {
  std::error_code ec;
  if (!std::filesystem::is_directory(arg, ec)) {
    MNEMO_ASSIGN_OR_RETURN(CheckpointMeta meta, read_checkpoint_meta(arg));
    return std::make_pair(arg, std::move(meta));
  }
  const auto list = list_checkpoints(arg);
  if (list.empty()) return not_found(arg + ": expected checkpoints (ckpt_<step>.bin), found none");
  Status first;
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    auto meta = read_checkpoint_meta(it->second);
    if (meta.has_value()) return std::make_pair(it->second, std::move(*meta));
    if (meta.status().code() != StatusCode::kCorrupt) return meta.status();
    if (first.is_ok()) first = meta.status();
    note(meta.status().message() + (std::next(it) != list.rend() ? "; falling back to the previous checkpoint" : ""));
  }
  return corrupt(arg + ": no checkpoint verifies (the newest: " + first.message() + ")");
}

void take_rows(const int32_t* buf, int64_t B, int64_t T, int r, int N, int32_t* inputs, int32_t* targets);

// Mean loss over the first `batches` global batches of the held-out data (the same ones every
// time); each rank takes its rows of each, as in training, and the means are averaged.
double evaluate(TrainGraph& g, DataLoader& loader, int64_t batches, ParamSource& params, std::vector<int32_t>& buf,
                Comm& comm, int32_t* inputs, int32_t* targets) {
  (void)loader.set_state(DataLoader::State{});
  double sum = 0.0;
  for (int64_t b = 0; b < batches; ++b) {
    loader.next(buf.data());
    take_rows(buf.data(), g.B(), g.T(), comm.rank(), comm.size(), inputs, targets);
    sum += g.forward(params, inputs, targets, 0.0f);
  }
  if (comm.size() > 1) {
    comm.all_reduce_sum(&sum, 1);
    sum /= static_cast<double>(comm.size());
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

std::string json_number(double v) { return std::isfinite(v) ? str_printf("%.17g", v) : "null"; }

// What this run was started with (checkpoints record it; resume compares it).
Expected<RunRecord> run_record(const TrainConfig& c, const RunSetup& s, int ranks) {
  RunRecord r;
  r.present = true;
  r.seed = c.seed;
  r.batch_size = s.B;
  r.seq_len = s.T;
  r.grad_accum = s.accum;
  r.ranks = ranks;
  r.zero_stage = c.zero_stage;
  for (const std::string& f : c.data.train) {
    MNEMO_ASSIGN_OR_RETURN(DataFileId id, identify_data_file(f));
    r.data.push_back(std::move(id));
  }
  return r;
}

// Every rank must run the same config on the same data: each hashes what it runs (the config's
// values that decide the arithmetic, and the data files' hashes) and all compare. An error on
// every rank, before any work, when they disagree.
Status check_ranks_agree(Comm& comm, const TrainConfig& c, const RunSetup& s, const RunRecord& run) {
  if (comm.size() == 1) return Status::ok();
  std::string text;
  if (!c.path.empty()) {
    auto file = read_file(c.path);
    if (file.has_value()) text = *file;
  }
  text += str_printf("|steps=%lld|B=%lld|T=%lld|accum=%lld|seed=%llu|stage=%lld|lr=%.17g|opt=%s|shape=%s",
                     static_cast<long long>(c.steps), static_cast<long long>(s.B), static_cast<long long>(s.T),
                     static_cast<long long>(s.accum), static_cast<unsigned long long>(c.seed),
                     static_cast<long long>(c.zero_stage), c.schedule.lr, c.optimizer.type.c_str(),
                     describe_shape(s.shape).c_str());
  uint64_t h_cfg = 0xcbf29ce484222325ull, h_data = 0xcbf29ce484222325ull;
  for (unsigned char ch : text) h_cfg = (h_cfg ^ ch) * 0x100000001b3ull;
  for (const DataFileId& f : run.data) {
    for (unsigned char ch : f.hash + str_printf("/%llu", static_cast<unsigned long long>(f.size))) {
      h_data = (h_data ^ ch) * 0x100000001b3ull;
    }
  }
  const std::vector<uint64_t> cfg = comm.all_gather_u64(h_cfg);
  const std::vector<uint64_t> data = comm.all_gather_u64(h_data);
  comm.set_exit_together(true);  // every rank sees the same hashes: an error here is every rank's
  for (int r = 1; r < comm.size(); ++r) {
    const size_t i = static_cast<size_t>(r);
    if (cfg[i] != cfg[0]) {
      return invalid_argument(str_printf("%s: rank %d of %d runs a different config from rank 0 (config hash %016llx "
                                            "vs %016llx): every rank must be given the same config and options",
                                            c.path.c_str(), r, comm.size(), static_cast<unsigned long long>(cfg[i]),
                                            static_cast<unsigned long long>(cfg[0])));
    }
    if (data[i] != data[0]) {
      return invalid_argument(str_printf("%s: data.train: rank %d of %d reads different data from rank 0 (hash "
                                            "%016llx vs %016llx): every rank must see the same files",
                                            c.path.c_str(), r, comm.size(), static_cast<unsigned long long>(data[i]),
                                            static_cast<unsigned long long>(data[0])));
    }
  }
  return Status::ok();
}

// Resuming: the run's seed, batch, sequence length, accumulation, data files and rank layout
// against the checkpoint's; each difference is an error unless allowed (then a note).
Status check_resume_run(const CheckpointMeta& meta, const RunRecord& now, bool allow, const std::string& path,
                        const std::function<void(const std::string&)>& note) {
  if (!meta.run.present) {
    note(path + ": written before runs were recorded: seed, batch, data and ranks not checked");
    return Status::ok();
  }
  const std::vector<std::string> diff = run_differences(meta.run, now);
  if (diff.empty()) return Status::ok();
  if (!allow) {
    return invalid_argument(path + ": the run differs from the checkpoint's: " + diff.front() +
                               (diff.size() > 1 ? str_printf(" (and %zu more)", diff.size() - 1) : std::string()) +
                               "; pass --resume-allow-changes to resume anyway");
  }
  for (const std::string& d : diff) note("--resume-allow-changes: resuming with a changed " + d);
  return Status::ok();
}

// The loader's position from the checkpoint. When allowed changes (another seed, other data)
// leave it pointing nowhere, the run goes on at the start of the same document index, or of the
// next epoch, and says so.
Status resume_loader(DataLoader& loader, const CheckpointMeta& meta, bool allow, const std::string& path,
                     const std::function<void(const std::string&)>& note) {
  Status st = loader.set_state(meta.data);
  if (st.is_ok() || !allow || !meta.run.present) return st.with_context(path);
  DataLoader::State d = meta.data;
  d.offset = -1;
  d.carry = -1;
  d.has_carry = false;
  if (!loader.set_state(d).is_ok()) {
    d.epoch += 1;
    d.cursor = 0;
  }
  MNEMO_RETURN_IF_ERROR(loader.set_state(d).with_context(path));
  note(str_printf("--resume-allow-changes: the data position does not fit the changed run (%s); going on at "
                  "document %lld of epoch %lld",
                  st.message().c_str(), static_cast<long long>(d.cursor), static_cast<long long>(d.epoch)));
  return Status::ok();
}

// The checkpoint against the run: model, optimizer, the run record, the step and the size.
Status check_resume(const CheckpointMeta& meta, const TrainConfig& c, const RunSetup& s, const RunRecord& run,
                    int64_t n, bool allow, const std::string& path, const std::function<void(const std::string&)>& note) {
  MNEMO_RETURN_IF_ERROR(check_checkpoint_matches(meta, s.shape, s.opt, nullptr, path));
  MNEMO_RETURN_IF_ERROR(check_resume_run(meta, run, allow, path, note));
  if (meta.step > c.steps) {
    return invalid_argument(str_printf("%s: expected a checkpoint at or before the run's last step %lld, found step %lld "
                                       "(raise steps, or --steps)",
                                       path.c_str(), static_cast<long long>(c.steps), static_cast<long long>(meta.step)));
  }
  if (meta.n_params != n) {
    return invalid_argument(str_printf("%s: expected %lld parameters, found %lld", path.c_str(),
                                       static_cast<long long>(n), static_cast<long long>(meta.n_params)));
  }
  return Status::ok();
}

// The starting weights: from the checkpoint being resumed (its optimizer state, step and data
// position too), from model.init_from, or the seeded initialization; at stage 3 only this rank's
// shard is kept (init_from goes through a temporary full buffer).
Status start_weights(ZeroEngine& zero, const TrainConfig& c, const RunSetup& s, const ParamLayout& layout,
                     const std::string& resume_path, const CheckpointMeta& meta) {
  if (!resume_path.empty()) {
    const std::vector<StateTensor> full_state = zero.full_state_shape();
    MNEMO_RETURN_IF_ERROR(check_checkpoint_matches(meta, s.shape, s.opt, &full_state, resume_path));
    MNEMO_RETURN_IF_ERROR(zero.load(resume_path, meta));
    zero.set_steps_taken(meta.step);
    return Status::ok();
  }
  if (s.init_model) {
    FloatBuffer full;
    if (zero.stage() >= 3) full.resize(layout.n_params());
    float* p = zero.stage() >= 3 ? full.data() : zero.params();
    MNEMO_RETURN_IF_ERROR(load_weights(*s.init_model, layout, p));
    if (zero.stage() >= 3) zero.set_from_full(p);
    return Status::ok();
  }
  const float sd = static_cast<float>(c.model.init_std);
  if (zero.stage() >= 3) {  // straight into the shard: no full buffer
    init_params_range(s.shape, layout, sd, c.seed, zero.own_begin(), zero.own_end(), zero.params());
  } else {
    init_params(s.shape, layout, sd, c.seed, zero.params());
  }
  return Status::ok();
}

// Bytes the run holds, by class (the estimate's classes).
TrainMemoryEstimate allocated_bytes(const ZeroEngine& zero, const TrainGraph& graph, const TokenData& train,
                                    const TokenData& val, size_t buffer_ints, int n_threads) {
  TrainMemoryEstimate al;
  const ZeroStateBytes held = zero.allocated();
  al.parameters = held.parameters;
  al.gradients = held.gradients;
  al.optimizer = held.optimizer;
  al.activations = graph.bytes();
  al.data = 4 * static_cast<uint64_t>(train.n_tokens() + val.n_tokens()) +
            8 * static_cast<uint64_t>(train.doc_start.size() + val.doc_start.size()) +
            8 * static_cast<uint64_t>(train.n_docs() + val.n_docs()) + 4 * buffer_ints;
  al.workspace = zero.optimizer_workspace_bytes() + zero.bucket_bytes() +
                 blas_bytes_per_thread() * static_cast<uint64_t>(n_threads);
  return al;
}

// The run's checkpoint saves (collectives: every rank takes part; rank 0 writes and prunes),
// synchronous or lazy asynchronous (train/checkpoint_writer.h), and what each cost the loop.
class Saves {
 public:
  Saves(ZeroEngine& zero, const TrainCheckpointConfig& k, int64_t snapshot_floats, TrainReport& rep)
      : zero_(zero), k_(k), async_(k.mode == "async" && !k.dir.empty()), rep_(rep) {
    if (async_ && zero.rank() == 0) writer_.reserve(snapshot_floats);  // preallocated once
  }
  uint64_t snapshot_bytes() const { return writer_.snapshot_bytes(); }

  // Before the optimizer step changes the state: waits for the copy of an async save in flight
  // and puts the save's blocked time into p.
  void before_update(TrainProgress& p) {
    if (!pending_) return;
    writer_.wait_copied();
    pending_ = false;
    const CheckpointTiming& t = writer_.timing();  // blocked and wait_previous: this thread's
    p.ckpt_blocked = rep_.checkpoint_times.back().blocked = t.blocked;
    p.ckpt_wait_previous = rep_.checkpoint_times.back().wait_previous = t.wait_previous;
  }

  // Saves step m.step; its path into p. The run ends after it when `last`.
  Status save(const CheckpointMeta& m, TrainProgress& p, bool last) {
    const std::string path = checkpoint_path(k_.dir, m.step);
    p.checkpoint = path;
    rep_.last_checkpoint = path;
    const double t0 = now_seconds();
    if (!async_) {
      MNEMO_RETURN_IF_ERROR(zero_.save(path, m));
      if (zero_.rank() == 0) prune_checkpoints(k_.dir, k_.keep);
      const double dt = now_seconds() - t0;
      report_blocked(CheckpointTiming{m.step, 0.0, dt, dt}, p);
      return Status::ok();
    }
    const bool lazy = zero_.state_is_local();
    MNEMO_RETURN_IF_ERROR(zero_.with_full_state([&](const float* params, const std::vector<StateTensor>& state) {
      return lazy ? writer_.start_lazy(path, k_.dir, k_.keep, m, params, state)
                  : writer_.start_copied(path, k_.dir, k_.keep, m, params, state);
    }));
    if (zero_.rank() != 0) {  // gathered for rank 0: the gather is this rank's blocked time
      const double dt = now_seconds() - t0;
      report_blocked(CheckpointTiming{m.step, 0.0, dt, 0.0}, p);
      return Status::ok();
    }
    pending_ = true;
    rep_.checkpoint_times.push_back({m.step, 0.0, 0.0, 0.0});  // filled by before_update, collect
    if (last) before_update(p);  // no next step to hide the copy behind
    return Status::ok();
  }

  // Background writes finished since the last call: their time into p and the report.
  void collect(TrainProgress& p) {
    for (const CheckpointTiming& t : writer_.take_finished()) {
      p.ckpt_write = t.write;
      for (auto& r : rep_.checkpoint_times) {
        if (r.step == t.step) r.write = t.write;
      }
    }
  }

  // Waits for the write in flight (at the end of the run); its error, if any.
  Status finish(TrainProgress* p) {
    Status st = writer_.finish();
    TrainProgress scratch;
    collect(p != nullptr ? *p : scratch);
    return st;
  }

 private:
  void report_blocked(const CheckpointTiming& t, TrainProgress& p) {
    p.ckpt_blocked = t.blocked;
    p.ckpt_wait_previous = t.wait_previous;
    rep_.checkpoint_times.push_back({t.step, t.blocked, t.wait_previous, t.write});
  }

  ZeroEngine& zero_;
  const TrainCheckpointConfig& k_;
  bool async_;
  TrainReport& rep_;
  CheckpointWriter writer_;
  bool pending_ = false;
};

// One JSON line of the run's log.
void write_log_line(FILE* log, const TrainProgress& p, double seconds) {
  std::fprintf(log,
               "{\"step\":%lld,\"loss\":%s,\"eval_loss\":%s,\"lr\":%s,\"grad_norm\":%s,\"tokens\":%lld,"
               "\"tokens_per_second\":%.1f,\"seconds\":%.3f}\n",
               static_cast<long long>(p.step), json_number(p.loss).c_str(),
               p.eval_loss >= 0 ? json_number(p.eval_loss).c_str() : "null", json_number(p.lr).c_str(),
               json_number(p.grad_norm).c_str(), static_cast<long long>(p.tokens), p.tokens_per_second, seconds);
  std::fflush(log);
}

// Rank r of N takes rows r, r + N, ... of the global batch (N B rows of T tokens, buf as
// DataLoader::next writes it) into inputs and targets (B T each).
void take_rows(const int32_t* buf, int64_t B, int64_t T, int r, int N, int32_t* inputs, int32_t* targets) {
  for (int64_t k = 0; k < B; ++k) {
    const int32_t* row = buf + (static_cast<int64_t>(r) + k * N) * T;
    std::memcpy(inputs + k * T, row, static_cast<size_t>(T) * sizeof(int32_t));
    std::memcpy(targets + k * T, row + 1, static_cast<size_t>(T) * sizeof(int32_t));
  }
}

// The gradients of one optimizer step (accum micro-batches of this rank's rows) into the engine;
// returns the global batch's mean loss.
double forward_backward(TrainGraph& graph, ZeroEngine& zero, DataLoader& loader, Comm& comm, int64_t accum,
                        float grad_scale, std::vector<int32_t>& batch, std::vector<int32_t>& inputs,
                        std::vector<int32_t>& targets) {
  zero.begin_step();
  double loss = 0.0;
  for (int64_t a = 0; a < accum; ++a) {
    loader.next(batch.data());
    take_rows(batch.data(), graph.B(), graph.T(), comm.rank(), comm.size(), inputs.data(), targets.data());
    loss += graph.forward(zero.source(), inputs.data(), targets.data(), grad_scale);
    graph.backward(zero.source(), zero.sink());
  }
  loss /= static_cast<double>(accum);
  if (comm.size() > 1) {
    comm.all_reduce_sum(&loss, 1);
    loss /= static_cast<double>(comm.size());
  }
  return loss;
}

}  // namespace

Expected<TrainReport> run_training(const TrainConfig& c, const TrainOptions& opt) {
  // MPI's own start-up (libraries, shared-memory segments) belongs to the baseline.
  MNEMO_ASSIGN_OR_RETURN(Comm * comm, world_comm());
  const uint64_t baseline = process_memory().rss_bytes;
  use_single_threaded_blas();
  std::function<void(const std::string&)> note = [&](const std::string& m) {
    if (opt.on_message) opt.on_message(m);
  };
  MNEMO_ASSIGN_OR_RETURN(RunSetup s, prepare_run(c, opt.threads));
  const int rank = comm->rank(), ranks = comm->size();
  const int stage = static_cast<int>(c.zero_stage);
  MNEMO_RETURN_IF_ERROR(validate_zero(stage, ranks, s.opt, c.path));
  if (rank != 0) {  // one rank reports; every rank returns its errors
    note = [](const std::string&) {};
  }
  TrainReport rep;
  rep.rank = rank;
  rep.ranks = ranks;
  rep.zero_stage = stage;
  rep.estimate = estimate_memory(c, s, ranks);
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
  MNEMO_ASSIGN_OR_RETURN(const RunRecord run, run_record(c, s, ranks));
  MNEMO_RETURN_IF_ERROR(check_ranks_agree(*comm, c, s, run));
  comm->set_exit_together(false);  // until the run is done
  // A checkpoint to resume: checksum, model and run checked before anything is allocated.
  std::string resume_path;
  CheckpointMeta meta;
  if (!opt.resume.empty()) {
    MNEMO_ASSIGN_OR_RETURN(auto found, resolve_resume(opt.resume, note));
    resume_path = std::move(found.first);
    meta = std::move(found.second);
    MNEMO_RETURN_IF_ERROR(check_resume(meta, c, s, run, n, opt.resume_allow_changes, resume_path, note));
  }

  ThreadPool pool(s.n_threads);
  MNEMO_ASSIGN_OR_RETURN(auto zero, ZeroEngine::create(*comm, stage, s.opt, layout, s.n_threads, c.path));
  TrainGraph graph(s.shape, layout, B, T, &pool);
  // Every rank walks the same global stream of ranks x B rows and keeps rows rank, rank + ranks, ...
  DataLoader loader(&train_data, B * ranks, T, c.data.shuffle, c.seed);
  std::unique_ptr<DataLoader> val_loader;
  if (has_val) val_loader = std::make_unique<DataLoader>(&val_data, B * ranks, T, false, c.seed);
  std::vector<int32_t> batch(static_cast<size_t>(ranks * B * T + 1)), vbatch(static_cast<size_t>(ranks * B * T + 1));
  std::vector<int32_t> inputs(static_cast<size_t>(B * T)), targets(static_cast<size_t>(B * T));
  Rng rng(c.seed ^ 0x73616d706c65ull);  // samples at evaluations
  int64_t step0 = 0, tokens = 0;
  MNEMO_RETURN_IF_ERROR(start_weights(*zero, c, s, layout, resume_path, meta));
  if (!resume_path.empty()) {
    MNEMO_RETURN_IF_ERROR(resume_loader(loader, meta, opt.resume_allow_changes, resume_path, note));
    rng.set_state(meta.rng);
    step0 = meta.step;
    tokens = meta.tokens;
    note(str_printf("resumed from %s at step %lld", resume_path.c_str(), static_cast<long long>(step0)));
  } else if (s.init_model) {
    note("initialized from " + c.model.init_from);
  }
  FloatBuffer full_scratch;  // stage 3: the gathered parameters while sampling or exporting
  rep.first_step = step0;

  Saves saves(*zero, c.checkpoint, checkpoint_floats(n, zero->full_state_shape()), rep);
  rep.allocated = allocated_bytes(*zero, graph, train_data, val_data,
                                  batch.size() + vbatch.size() + inputs.size() + targets.size(), s.n_threads);
  rep.allocated.workspace += saves.snapshot_bytes();
  rep.model_state_bytes = zero->allocated().total();
  rep.model_state_formula = zero_state_bytes(stage, n, ranks).total();

  FILE* log = nullptr;
  if (!c.log.empty() && rank == 0) {
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
    const CommCounters c0 = comm->counters();
    const double loss = forward_backward(graph, *zero, loader, *comm, s.accum, grad_scale, batch, inputs, targets);
    if (!std::isfinite(loss)) {
      return out_of_range(str_printf("%s: training diverged: the loss is %g at step %lld (try a lower schedule.lr)",
                                     c.path.c_str(), loss, static_cast<long long>(step + 1)));
    }
    const double lr = s.sched.at(step);
    TrainProgress p;
    saves.before_update(p);  // an async save's snapshot must be complete before the update
    MNEMO_ASSIGN_OR_RETURN(double norm, zero->finish_step(static_cast<float>(lr), pool));
    const CommCounters sent = comm->counters() - c0;
    rep.comm_all_reduce = sent.all_reduce;
    rep.comm_reduce_scatter = sent.reduce_scatter;
    rep.comm_all_gather = sent.all_gather;
    rep.comm_total = sent.total();
    const double dt = now_seconds() - t0;
    step_time += dt;
    tokens += tokens_per_step * ranks;
    done = step + 1;
    rep.losses.push_back(loss);

    p.step = done;
    p.steps = c.steps;
    p.loss = loss;
    p.lr = lr;
    p.grad_norm = norm;
    p.step_seconds = dt;
    p.tokens_per_second = static_cast<double>(tokens_per_step * ranks) / dt;
    p.rank = rank;
    p.ranks = ranks;
    p.zero_stage = stage;
    p.model_state_bytes = rep.model_state_bytes;
    p.comm_bytes = sent.total();
    p.tokens = tokens;
    const bool last = done == c.steps;
    const bool stop = opt.stop_after >= 0 && done >= opt.stop_after;
    if ((c.eval.interval > 0 && done % c.eval.interval == 0) || last) {
      if (has_val && c.eval.batches > 0) {
        p.eval_loss = evaluate(graph, *val_loader, c.eval.batches, zero->source(), vbatch, *comm, inputs.data(),
                               targets.data());
        rep.eval_losses.emplace_back(done, p.eval_loss);
      }
      if (!c.eval.prompt.empty() && c.eval.sample_tokens > 0) {
        const float* full = zero->full_params(full_scratch);  // a collective at stage 3
        if (rank == 0) {
          MNEMO_ASSIGN_OR_RETURN(p.sample, generate(s.shape, layout, full, *s.tokenizer, c.eval, rng.next(), pool));
        }
        full_scratch.resize(0);
      }
    }
    if (!c.checkpoint.dir.empty() &&
        ((c.checkpoint.interval > 0 && done % c.checkpoint.interval == 0) || last || stop)) {
      CheckpointMeta m{s.shape, s.opt, done, tokens, n, loader.state(), rng.state(), {}, run};
      MNEMO_RETURN_IF_ERROR(saves.save(m, p, last || stop));
    }
    if (last || stop) {
      MNEMO_RETURN_IF_ERROR(saves.finish(&p));
    } else {
      saves.collect(p);
    }
    const ProcessMemory pm = process_memory();
    p.rss_bytes = pm.rss_bytes;
    p.peak_rss_bytes = pm.peak_rss_bytes;
    p.allocated = &rep.allocated;
    if (log != nullptr) write_log_line(log, p, now_seconds() - t_start);
    if (opt.on_progress) opt.on_progress(p);
    if (stop) break;
  }
  rep.steps_done = done;
  rep.seconds = now_seconds() - t_start;
  rep.tokens_per_second =
      step_time > 0 ? static_cast<double>(tokens_per_step * ranks) * static_cast<double>(done - step0) / step_time : 0.0;
  rep.peak_rss_bytes = process_memory().peak_rss_bytes;

  const float* final_params = !c.output.empty() && done == c.steps ? zero->full_params(full_scratch) : nullptr;
  if (!c.output.empty() && done == c.steps && rank == 0) {
    ExportParams ep;
    ep.path = c.output;
    ep.name = c.name;
    ep.f16 = c.output_type == "f16";
    ep.vocab_path = s.vocab_path;
    ep.tokenizer = s.tokenizer;
    MNEMO_RETURN_IF_ERROR(export_gguf(ep, s.shape, layout, final_params));
    rep.output = c.output;
    note("wrote " + c.output);
  }
  comm->set_exit_together(true);
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
