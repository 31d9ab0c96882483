// mnemo/train.h: training llama models on the CPU, and preparing their data.
//
// A run is described by a JSON config (configs/*.json; every key is documented in docs/TRAINING.md
// and unknown keys are errors): the model's shape (or a GGUF to start from), the tokenizer, the
// data, batch and sequence length, the learning-rate schedule (linear warmup, cosine decay), the
// optimizer (AdamW, or GaLore on the attention and MLP matrices), evaluation and checkpoints.
// Training is fp32 with a hand-written backward pass; results are bit-identical for a given thread
// count, so a run resumed from a checkpoint gives exactly the losses of an uninterrupted one.
// The result is a GGUF (F16 or F32) that Model::load, `mnemo run` and llama.cpp load.
//
// Errors in the config, the data (ids beyond the vocabulary), the tokenizer or a checkpoint
// (corrupt, or of another model) are reported before any training work starts.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mnemo/convert.h"  // ProgressFn
#include "mnemo/status.h"

namespace mnemo {

struct TrainModelConfig {
  int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_ctx = 0;
  double rms_eps = 1e-5;
  double rope_base = 10000.0;
  bool tied_output = false;
  double init_std = 0.02;  // llama2.c init: N(0, std); residual projections std / sqrt(2 n_layer)
  std::string init_from;   // a GGUF (llama, F32/F16/BF16/quantized): shape and weights from it
};

struct TrainDataConfig {
  std::vector<std::string> train;  // token files (mnemo tokenize) or text files (tokenized at start)
  std::string val;                 // held-out data for the evaluation loss (optional)
  bool shuffle = true;             // document order shuffled per epoch
  std::string split = "blank";     // documents in text files: "blank", "line" or "none"
};

struct TrainOptimizerConfig {
  std::string type = "adamw";  // "adamw" or "galore"
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;   // on matrices (embedding and head included), not norms
  double grad_clip = 1.0;      // global L2 norm; <= 0: off
  // GaLore (Zhao et al. 2024) on attention and MLP matrices.
  int64_t galore_rank = 128;
  int64_t galore_update_interval = 200;
  double galore_scale = 0.25;
  std::string galore_proj_type = "reverse_std";  // "reverse_std" or "std" (galore_torch's names)
};

struct TrainScheduleConfig {
  double lr = 1e-3;      // peak
  double min_lr = 1e-4;  // at the end of the cosine
  int64_t warmup = 0;    // steps of linear warmup
  std::string kind = "cosine";  // or "constant"
};

struct TrainEvalConfig {
  int64_t interval = 0;       // steps between evaluations (0: only at the end)
  int64_t batches = 8;        // batches of the held-out data per evaluation (the same ones each time)
  std::string prompt;         // text to continue at each evaluation (empty: none)
  int64_t sample_tokens = 64;
  double temperature = 0.8;
};

struct TrainCheckpointConfig {
  std::string dir;        // where checkpoints go (empty: none)
  int64_t interval = 0;   // steps between checkpoints (0: only at the end)
  int64_t keep = 2;       // newest checkpoints kept (0: all); resume falls back through them
  // "async": lazy asynchronous saves (DataStates-LLM, src/train/checkpoint_writer.h): the state is
  // snapshotted into host memory while the next step's forward/backward run and written by a
  // background thread; "sync": the loop writes the file itself.
  std::string mode = "async";
};

struct TrainConfig {
  std::string path;  // the file it came from (for messages)
  TrainModelConfig model;
  std::string tokenizer;  // tokenizer.bin or a GGUF: its vocabulary goes into the output GGUF
  TrainDataConfig data;
  int64_t batch_size = 8;   // sequences per micro-batch
  int64_t seq_len = 256;    // tokens per sequence (<= model n_ctx)
  int64_t grad_accum = 1;   // micro-batches per optimizer step
  int64_t steps = 1000;
  TrainScheduleConfig schedule;
  TrainOptimizerConfig optimizer;
  TrainEvalConfig eval;
  TrainCheckpointConfig checkpoint;
  std::string output;              // the GGUF written at the end (empty: none)
  std::string output_type = "f16"; // "f16" or "f32" for matrices (norms stay f32)
  std::string name;                // general.name
  int32_t threads = 0;             // 0: all online CPUs
  uint64_t seed = 1337;            // initialization and data order
  std::string log;                 // JSON lines, one per step (empty: none)
  // Data parallelism over `mpirun -np N` (src/train/zero.h; ZeRO, Rajbhandari et al. SC'20): each
  // rank takes batch_size sequences of a global batch of N batch_size. 0: gradients all-reduced;
  // 1: optimizer state sharded; 2: gradients sharded too.
  int64_t zero_stage = 0;
};

// Parses a config file. Paths in it may use ${VAR} (environment); relative paths are relative to
// the current directory. Unknown keys, wrong types and impossible values are errors naming the
// key ("configs/x.json: optimizer.galore.rnak: unknown key").
Expected<TrainConfig> load_train_config(const std::string& path);
Expected<TrainConfig> parse_train_config(const std::string& json_text, const std::string& subject);

// Memory a run will use, by class (DeepSpeed's estimator, for this engine): computed from the
// config and file headers alone, before any work.
struct TrainMemoryEstimate {
  uint64_t parameters = 0;    // fp32 weights
  uint64_t gradients = 0;     // fp32, one per weight
  uint64_t optimizer = 0;     // AdamW moments; GaLore moments and projections
  uint64_t activations = 0;   // saved for the backward pass, logits, backward buffers, scratch
  uint64_t data = 0;          // token ids in memory, batch buffers
  uint64_t workspace = 0;     // OpenBLAS buffers, optimizer scratch, sampling, I/O buffers
  std::vector<std::pair<std::string, uint64_t>> detail;  // finer lines, for the table
  uint64_t total() const { return parameters + gradients + optimizer + activations + data + workspace; }
};
// ranks: the data-parallel rank count the estimate is for (per rank; the config's zero_stage).
Expected<TrainMemoryEstimate> estimate_train_memory(const TrainConfig& config, int ranks = 1);

// Model-state bytes per rank (fp32 parameters, gradients and AdamW moments) for a ZeRO stage
// (0-2) at a rank count, by the formulas of src/train/zero.h: 16P, 8P + 8P/N, 4P + 12P/N.
struct ZeroStateEstimate {
  int stage = 0;
  int ranks = 1;
  uint64_t parameters = 0, gradients = 0, optimizer = 0;
  uint64_t total() const { return parameters + gradients + optimizer; }
};
Expected<std::vector<ZeroStateEstimate>> estimate_zero_states(const TrainConfig& config, const std::vector<int>& ranks);

struct TrainProgress {
  int64_t step = 0;           // steps done (1-based after the first)
  int64_t steps = 0;
  double loss = 0;            // mean training loss of this step
  double eval_loss = -1;      // < 0: no evaluation at this step
  double lr = 0;
  double grad_norm = 0;       // before clipping
  double step_seconds = 0;
  double tokens_per_second = 0;  // this step
  int64_t tokens = 0;         // training tokens consumed so far
  uint64_t rss_bytes = 0;     // resident now
  uint64_t peak_rss_bytes = 0;
  const TrainMemoryEstimate* allocated = nullptr;  // bytes held now, by class
  std::string sample;         // the continuation of eval.prompt (at evaluations)
  std::string checkpoint;     // the checkpoint written after this step, if any
  // Checkpoint timings (seconds), < 0 when none: the loop's blocked time of the save whose
  // blocking ended in this step (async: the next step, when its optimizer waited for the copy),
  // of which the wait for the previous background write; and the write time of a background
  // write that finished since the last line.
  double ckpt_blocked = -1, ckpt_wait_previous = -1, ckpt_write = -1;
  int rank = 0, ranks = 1;    // this process's data-parallel rank, of how many
  int zero_stage = 0;
  uint64_t model_state_bytes = 0;  // parameters + gradients + optimizer state held by this rank
  uint64_t comm_bytes = 0;         // bytes this rank sent in this step's collectives (ring formulas)
};

struct TrainOptions {
  std::string resume;         // a checkpoint file, or a checkpoint directory (its newest)
  int32_t threads = -1;       // overrides the config's threads when >= 0
  int64_t stop_after = -1;    // stop after this many steps done (an interruption, for tests)
  bool resume_allow_changes = false;  // resume even when seed, batch, data, ... differ (each printed)
  std::function<void(const TrainProgress&)> on_progress;
  std::function<void(const std::string&)> on_message;  // one-line notes (resumed from ..., wrote ...)
};

struct TrainReport {
  int64_t first_step = 0;              // steps done when this run started (> 0 when resumed)
  int64_t steps_done = 0;
  std::vector<double> losses;          // training loss of each step this run made
  std::vector<std::pair<int64_t, double>> eval_losses;  // (steps done, held-out loss)
  double seconds = 0;
  double tokens_per_second = 0;        // over this run's steps
  double flops_per_token = 0;          // model FLOPs (6 per matrix weight + attention)
  int32_t threads = 0;
  TrainMemoryEstimate estimate;
  TrainMemoryEstimate allocated;       // what was actually allocated, by class
  uint64_t baseline_rss_bytes = 0;     // resident before the run allocated anything
  uint64_t peak_rss_bytes = 0;         // VmHWM at the end
  std::string output;
  std::string last_checkpoint;
  struct CheckpointTime {
    int64_t step = 0;
    double blocked = 0, wait_previous = 0, write = 0;  // seconds (see TrainProgress)
  };
  std::vector<CheckpointTime> checkpoint_times;  // every save of this run, in order
  int rank = 0, ranks = 1, zero_stage = 0;
  uint64_t model_state_bytes = 0;      // this rank's parameters + gradients + optimizer state
  uint64_t model_state_formula = 0;    // the ZeRO formula's figure for the same
  // Bytes this rank sent per step, by collective (the last step; comm.h's ring formulas).
  uint64_t comm_all_reduce = 0, comm_reduce_scatter = 0, comm_all_gather = 0, comm_total = 0;
};

Expected<TrainReport> run_training(const TrainConfig& config, const TrainOptions& options = {});

// `mnemo tokenize`: text files -> one token file (documents without BOS; see src/train/data.h).
struct TokenizeParams {
  std::vector<std::string> inputs;
  std::string tokenizer;  // tokenizer.bin, or any GGUF with a vocabulary
  std::string output;
  std::string split = "blank";
};
struct TokenizeReport {
  int64_t documents = 0;
  int64_t tokens = 0;
  int32_t n_vocab = 0;
  uint64_t text_bytes = 0;
};
Expected<TokenizeReport> tokenize_files(const TokenizeParams& params);

}  // namespace mnemo
