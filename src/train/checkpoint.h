// train/checkpoint.h: everything a run needs to continue exactly: parameters, optimizer state,
// step, data position and RNG, in one file written atomically (temporary file, fsync, rename,
// fsync of the directory), each section sealed with its own SHA-256.
//
// Layout (version 2): sections, each hashed on its own:
//   header:      "MNEMOCKP" | u32 version (2) | u32 sections (2 + state tensors) | u64 json_bytes |
//                JSON metadata | zero padding to a multiple of 64
//   parameters:  f32, n_params
//   one section per optimizer state tensor, f32, in the order the metadata lists them
// then the section table (32 bytes of SHA-256 per section, header first) and 32 bytes: the SHA-256
// of the table. Every byte is covered by exactly one checksum; a damaged file is reported with the
// file and the section ("ckpt_00000020.bin: section 'adamw.m' (bytes ..): expected SHA-256 ..."),
// a partial one with the section it ends in. Version 1 files (one SHA-256 of the whole file at the
// end) still read. Nothing is ever read from a half-written file (the temporary name is only
// renamed once complete); reading verifies before any field is trusted for sizes, and then checks
// that the model shape and optimizer match what the caller expects.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/status.h"
#include "train/data.h"
#include "train/optimizer.h"
#include "train/params.h"

namespace mnemo::train {

// What a run was started with, besides the model and optimizer: resuming with any of it changed
// is an error naming the field (check_run_matches) unless the user allows changes.
struct DataFileId {
  std::string path;
  uint64_t size = 0;
  std::string hash;  // FNV-1a 64 of the file's bytes, 16 hex digits
  bool operator==(const DataFileId&) const = default;
};
struct RunRecord {
  bool present = false;  // false: a checkpoint written before these were recorded
  uint64_t seed = 0;
  int64_t batch_size = 0;  // sequences per micro-batch per rank
  int64_t seq_len = 0;
  int64_t grad_accum = 0;
  int64_t ranks = 1;
  int64_t zero_stage = 0;
  std::vector<DataFileId> data;  // the training files, in order
};

// Size and FNV-1a 64 hash of a file (read once, in 1 MiB chunks).
Expected<DataFileId> identify_data_file(const std::string& path);

// The fields of `saved` that differ from `now`, as "batch_size: checkpoint 8, this run 4" lines
// (data files compared by size and hash, not by path).
std::vector<std::string> run_differences(const RunRecord& saved, const RunRecord& now);

struct CheckpointMeta {
  TrainShape shape;
  OptimizerSettings optimizer;
  int64_t step = 0;            // optimizer steps done
  int64_t tokens = 0;          // training tokens consumed
  int64_t n_params = 0;
  DataLoader::State data;
  std::array<uint64_t, 4> rng{};
  std::vector<std::pair<std::string, int64_t>> state;  // optimizer state tensors (name, floats)
  RunRecord run;
};

// Writes the checkpoint atomically; `state` as Optimizer::state() gives it.
Status save_checkpoint(const std::string& path, const CheckpointMeta& meta, const float* params,
                       const std::vector<StateTensor>& state);

// Verifies the checksum and parses the metadata (reads the whole file once; allocates only the
// metadata).
Expected<CheckpointMeta> read_checkpoint_meta(const std::string& path);

// Checks that the checkpoint belongs to this model and optimizer: same shape, same optimizer type
// and projection settings, and (when state is given) the same state tensors. Errors name the
// field and both values.
Status check_checkpoint_matches(const CheckpointMeta& meta, const TrainShape& shape, const OptimizerSettings& opt,
                                const std::vector<StateTensor>* state, const std::string& path);

// Reads parameters and optimizer state into the caller's buffers (re-verifying the checksum on
// the same pass). `meta` must come from read_checkpoint_meta of the same file.
Status load_checkpoint(const std::string& path, const CheckpointMeta& meta, float* params,
                       const std::vector<StateTensor>& state);

// Floats of tensors a checkpoint holds (parameters, then each state tensor): the one size of a
// checkpoint's tensor bytes (4 x this), which the asynchronous writer's snapshot is allocated by.
int64_t checkpoint_floats(int64_t n_params, const std::vector<StateTensor>& state);

// Test hook: called after each chunk (512 KiB) a checkpoint write hands to the file, from the
// writing thread (nullptr: none). Tests slow writes down with it to kill a process mid-write.
void set_checkpoint_write_hook(void (*hook)());

// Removes all but the `keep` newest checkpoints of dir (0: keeps all).
void prune_checkpoints(const std::string& dir, int64_t keep);

// "<dir>/ckpt_00001000.bin"
std::string checkpoint_path(const std::string& dir, int64_t step);
// The checkpoints in dir, ordered by step (from their names); an empty list when there are none.
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir);

}  // namespace mnemo::train
