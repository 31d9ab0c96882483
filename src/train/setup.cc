#include "train/setup.h"

#include <sys/stat.h>

#include <algorithm>

#include "base/strings.h"
#include "base/thread_pool.h"
#include "train/data.h"
#include "train/export.h"
#include "train/graph.h"
#include "train/zero.h"

namespace mnemo::train {
namespace {

// Text files are tokenized at the start of a run; the estimate counts their tokens at this many
// bytes per token (TinyStories with the 512-token vocabulary: 2.0) and documents at this many
// bytes per document.
constexpr double kTextBytesPerToken = 2.0;
constexpr double kTextBytesPerDoc = 500.0;

Expected<uint64_t> file_size(const std::string& path, const std::string& what) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return not_found(what + ": " + path + ": cannot open: no such file");
  return static_cast<uint64_t>(st.st_size);
}

Status add_sizes(const std::string& path, const std::string& what, int64_t vocab, int64_t* tokens, int64_t* docs,
                 bool* approx) {
  MNEMO_ASSIGN_OR_RETURN(uint64_t size, file_size(path, what));
  if (is_token_file(path)) {
    MNEMO_ASSIGN_OR_RETURN(TokenFileInfo h, read_token_header(path));
    if (h.n_vocab > vocab) {
      return out_of_range(str_printf("%s: n_vocab: expected at most %lld (the model's vocabulary), found %d",
                                     path.c_str(), static_cast<long long>(vocab), h.n_vocab));
    }
    *tokens += static_cast<int64_t>(h.n_tokens);
    *docs += static_cast<int64_t>(h.n_docs);
  } else {
    *tokens += static_cast<int64_t>(static_cast<double>(size) / kTextBytesPerToken);
    *docs += std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(size) / kTextBytesPerDoc));
    *approx = true;
  }
  return Status::ok();
}

}  // namespace

OptimizerSettings optimizer_settings(const TrainConfig& c) {
  OptimizerSettings o;
  o.type = c.optimizer.type;
  o.beta1 = static_cast<float>(c.optimizer.beta1);
  o.beta2 = static_cast<float>(c.optimizer.beta2);
  o.eps = static_cast<float>(c.optimizer.eps);
  o.weight_decay = static_cast<float>(c.optimizer.weight_decay);
  o.grad_clip = static_cast<float>(c.optimizer.grad_clip);
  o.rank = c.optimizer.galore_rank;
  o.update_interval = c.optimizer.galore_update_interval;
  o.scale = static_cast<float>(c.optimizer.galore_scale);
  o.proj_type = c.optimizer.galore_proj_type;
  return o;
}

Expected<RunSetup> prepare_run(const TrainConfig& c, int32_t threads_override) {
  RunSetup s;
  const std::string& subject = c.path;
  if (!c.model.init_from.empty()) {
    MNEMO_ASSIGN_OR_RETURN(s.init_model, Model::load(c.model.init_from));
    MNEMO_ASSIGN_OR_RETURN(s.shape, shape_of(*s.init_model));
    if (c.seq_len > s.shape.n_ctx) {
      return invalid_argument(str_printf("%s: seq_len: expected at most the context of %s (%lld), found %lld",
                                         subject.c_str(), c.model.init_from.c_str(),
                                         static_cast<long long>(s.shape.n_ctx), static_cast<long long>(c.seq_len)));
    }
  } else {
    s.shape.n_vocab = c.model.n_vocab;
    s.shape.n_embd = c.model.n_embd;
    s.shape.n_layer = c.model.n_layer;
    s.shape.n_head = c.model.n_head;
    s.shape.n_head_kv = c.model.n_head_kv > 0 ? c.model.n_head_kv : c.model.n_head;
    s.shape.n_ff = c.model.n_ff;
    s.shape.n_ctx = c.model.n_ctx;
    s.shape.rms_eps = static_cast<float>(c.model.rms_eps);
    s.shape.rope_base = static_cast<float>(c.model.rope_base);
    s.shape.tied_output = c.model.tied_output;
    MNEMO_RETURN_IF_ERROR(validate_shape(s.shape, subject));
  }
  // Tokenizer: the config's, else the starting model's.
  if (!c.tokenizer.empty()) {
    MNEMO_ASSIGN_OR_RETURN(s.own_tokenizer, Tokenizer::load(c.tokenizer));
    s.tokenizer = s.own_tokenizer.get();
    s.vocab_path = c.tokenizer;
  } else if (s.init_model) {
    s.tokenizer = &s.init_model->tokenizer();
    s.vocab_path = c.model.init_from;
  }
  if (s.tokenizer != nullptr && s.tokenizer->n_vocab() != s.shape.n_vocab) {
    return invalid_argument(str_printf("%s: expected %lld tokens (the model's n_vocab), found %d",
                                       (c.tokenizer.empty() ? c.model.init_from : c.tokenizer).c_str(),
                                       static_cast<long long>(s.shape.n_vocab), s.tokenizer->n_vocab()));
  }
  if (s.tokenizer == nullptr && !c.output.empty()) {
    return invalid_argument(subject + ": tokenizer: expected a tokenizer (its vocabulary goes into " + c.output + ")");
  }
  if (s.tokenizer == nullptr && !c.eval.prompt.empty()) {
    return invalid_argument(subject + ": tokenizer: expected a tokenizer to encode eval.prompt");
  }
  s.opt = optimizer_settings(c);
  const ParamLayout layout = ParamLayout::build(s.shape);
  MNEMO_RETURN_IF_ERROR(validate_optimizer(s.opt, layout, subject));
  s.sched.max_lr = c.schedule.lr;
  s.sched.min_lr = c.schedule.min_lr;
  s.sched.warmup = c.schedule.warmup;
  s.sched.total = c.steps;
  s.sched.kind = c.schedule.kind;
  const int32_t t = threads_override >= 0 ? threads_override : c.threads;
  s.n_threads = ThreadPool::resolve_threads(t);  // the trainer's pool has exactly this many
  s.B = c.batch_size;
  s.T = c.seq_len;
  s.accum = c.grad_accum;
  for (const std::string& p : c.data.train) {
    MNEMO_RETURN_IF_ERROR(add_sizes(p, subject + ": data.train", s.shape.n_vocab, &s.data.train_tokens,
                                    &s.data.train_docs, &s.data.approximate));
  }
  if (!c.data.val.empty()) {
    MNEMO_RETURN_IF_ERROR(add_sizes(c.data.val, subject + ": data.val", s.shape.n_vocab, &s.data.val_tokens,
                                    &s.data.val_docs, &s.data.approximate));
  }
  if (s.data.approximate && s.tokenizer == nullptr) {
    return invalid_argument(subject + ": tokenizer: expected one to tokenize the text files in data");
  }
  return s;
}

uint64_t blas_bytes_per_thread() { return 6ull << 20; }

TrainMemoryEstimate estimate_memory(const TrainConfig& c, const RunSetup& s, int ranks) {
  const ParamLayout layout = ParamLayout::build(s.shape);
  const int stage = static_cast<int>(c.zero_stage);
  const ZeroStateBytes z = zero_state_bytes(stage, layout.n_params(), ranks);
  TrainMemoryEstimate e;
  e.parameters = z.parameters;
  e.gradients = z.gradients;
  e.optimizer = stage == 0 ? optimizer_state_bytes(s.opt, layout) : z.optimizer;
  const uint64_t buckets = (stage >= 2 ? zero_buckets(layout).bytes() : 0) + (stage >= 3 ? zero_buckets(layout).bytes() : 0);
  const uint64_t R = static_cast<uint64_t>(ranks);
  const GraphSizes g = graph_sizes(s.shape, s.B, s.T, s.n_threads);
  e.activations = 4 * static_cast<uint64_t>(g.total());
  const DataSizes& d = s.data;
  // Token ids (int32), document offsets, the epoch orders of both loaders, two batch buffers.
  e.data = 4 * static_cast<uint64_t>(d.train_tokens + d.val_tokens) +
           8 * static_cast<uint64_t>(d.train_docs + 1 + d.val_docs + 1) + 8 * static_cast<uint64_t>(d.train_docs + d.val_docs) +
           8 * static_cast<uint64_t>(R * s.B * s.T + 1) + 4 * static_cast<uint64_t>(2 * s.B * s.T);
  const uint64_t opt_work = optimizer_workspace_bytes(s.opt, layout, s.n_threads);
  const uint64_t blas = blas_bytes_per_thread() * static_cast<uint64_t>(s.n_threads);
  uint64_t io = 0;
  if (!c.checkpoint.dir.empty()) io += (1u << 20) + (512u << 10);  // AtomicFileWriter buffer + read chunk
  // Rank 0's snapshot for asynchronous saves: parameters and the full optimizer state
  // (checkpoint_floats of the checkpoint's tensors; stages 1-3 save AdamW's m and v in full).
  uint64_t snapshot = 0;
  if (!c.checkpoint.dir.empty() && c.checkpoint.mode == "async") {
    snapshot = 4 * static_cast<uint64_t>(layout.n_params()) +
               (stage == 0 ? optimizer_state_bytes(s.opt, layout) : 8 * static_cast<uint64_t>(layout.n_params()));
  }
  uint64_t sample = 0;
  if (!c.eval.prompt.empty() && c.eval.sample_tokens > 0) {
    // An inference session over the fp32 weights: KV cache and activations for prompt + sample.
    const uint64_t ctx = static_cast<uint64_t>(std::min<int64_t>(s.shape.n_ctx, 64 + c.eval.sample_tokens));
    const uint64_t width = static_cast<uint64_t>(3 * s.shape.n_embd + s.shape.n_embd_q() + 2 * s.shape.n_ff);
    sample = 4 * (2 * static_cast<uint64_t>(s.shape.n_layer) * ctx * static_cast<uint64_t>(s.shape.n_embd_kv()) +
                  ctx * width + static_cast<uint64_t>(s.shape.n_vocab) + ctx * static_cast<uint64_t>(s.shape.head_dim()));
  }
  e.workspace = opt_work + blas + io + sample + buckets + snapshot;
  e.detail = {
      {"activations: saved for the backward pass", 4 * static_cast<uint64_t>(g.saved)},
      {"activations: logits and their gradient", 4 * static_cast<uint64_t>(g.logits)},
      {"activations: backward buffers (one layer)", 4 * static_cast<uint64_t>(g.backward)},
      {"activations: attention tiles, row scratch", 4 * static_cast<uint64_t>(g.scratch)},
      {"activations: RoPE tables, token losses", 4 * static_cast<uint64_t>(g.tables)},
      {"workspace: optimizer scratch (GaLore SVD)", opt_work},
      {"workspace: OpenBLAS buffers", blas},
      {"workspace: checkpoint I/O buffers", io},
      {"workspace: asynchronous checkpoint snapshot (rank 0)", snapshot},
      {"workspace: sampling session", sample},
      {"workspace: gradient buckets (ZeRO-2/3), parameter gathers (ZeRO-3)", buckets},
  };
  return e;
}

Expected<TrainMemoryEstimate> estimate_for_config(const TrainConfig& c, int ranks) {
  if (ranks < 1) return invalid_argument(str_printf("--ranks: expected at least 1, found %d", ranks));
  MNEMO_ASSIGN_OR_RETURN(RunSetup s, prepare_run(c, -1));
  return estimate_memory(c, s, ranks);
}

}  // namespace mnemo::train

namespace mnemo {
Expected<TrainMemoryEstimate> estimate_train_memory(const TrainConfig& config, int ranks) {
  return train::estimate_for_config(config, ranks);
}

Expected<std::vector<ZeroStateEstimate>> estimate_zero_states(const TrainConfig& config, const std::vector<int>& ranks) {
  MNEMO_ASSIGN_OR_RETURN(train::RunSetup s, train::prepare_run(config, -1));
  const train::ParamLayout layout = train::ParamLayout::build(s.shape);
  std::vector<ZeroStateEstimate> out;
  for (int stage = 0; stage <= train::kMaxZeroStage; ++stage) {
    for (int n : ranks) {
      if (n < 1) return invalid_argument(str_printf("--ranks: expected at least 1, found %d", n));
      const train::ZeroStateBytes b = train::zero_state_bytes(stage, layout.n_params(), n);
      out.push_back({stage, n, b.parameters, b.gradients, b.optimizer});
    }
  }
  return out;
}
}  // namespace mnemo
