// train/setup.h: what a training run resolves from its config before any work: the model shape
// (from the config or the GGUF it starts from), the tokenizer, the optimizer and schedule, the
// thread count and the sizes of its data (from file headers). Shared by the trainer and the
// memory estimator, so both see exactly the same run.
#pragma once

#include <memory>
#include <string>

#include "mnemo/model.h"
#include "mnemo/tokenizer.h"
#include "mnemo/train.h"
#include "train/optimizer.h"
#include "train/params.h"
#include "train/schedule.h"

namespace mnemo::train {

struct DataSizes {
  int64_t train_tokens = 0, train_docs = 0;
  int64_t val_tokens = 0, val_docs = 0;
  bool approximate = false;  // text files: counts estimated from their size
};

struct RunSetup {
  TrainShape shape;
  OptimizerSettings opt;
  LrSchedule sched;
  int n_threads = 1;
  int64_t B = 1, T = 1, accum = 1;
  std::unique_ptr<Model> init_model;        // model.init_from
  std::unique_ptr<Tokenizer> own_tokenizer;
  const Tokenizer* tokenizer = nullptr;     // null only without a tokenizer and without init_from
  std::string vocab_path;                   // where the output GGUF's vocabulary comes from
  DataSizes data;
};

// Validates everything that can be checked without reading the data: errors name the config file
// and key, or the file at fault.
Expected<RunSetup> prepare_run(const TrainConfig& c, int32_t threads_override);

OptimizerSettings optimizer_settings(const TrainConfig& c);

// The estimate for a prepared run.
// The estimate for a prepared run, per rank of `ranks` data-parallel ranks (config's zero_stage).
TrainMemoryEstimate estimate_memory(const TrainConfig& c, const RunSetup& s, int ranks = 1);

// Bytes resident in OpenBLAS per calling thread once its GEMM buffers are touched (measured with
// OpenBLAS 0.3.21 on x86-64; see docs/TRAINING.md).
uint64_t blas_bytes_per_thread();

}  // namespace mnemo::train
