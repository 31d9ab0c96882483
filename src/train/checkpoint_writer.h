// train/checkpoint_writer.h: lazy asynchronous checkpoints after DataStates-LLM (Maurya et al.,
// "DataStates-LLM: Lazy Asynchronous Checkpointing for Large Language Models", HPDC'24).
//
// At a save step the trainer hands over pointers to the live parameters and optimizer state. A
// background thread copies them into a host snapshot (allocated once, checkpoint_floats() floats:
// parameters then each state tensor, in file order) while the next forward and backward run, which
// only read the parameters; the next optimizer step, the first thing to change them, waits for the
// copy (wait_copied). The same thread then writes the snapshot with save_checkpoint (temporary
// file, fsync, atomic rename, fsync of the directory) and prunes old checkpoints. The training loop
// is blocked for: the wait for the previous write (never two writes at once) plus the copy time
// not hidden behind forward/backward. When the state is not local (ZeRO stages 1-3 over N > 1
// ranks) the caller gathers it and start_copied copies it at once; the write is still background.
//
// Ownership: the writer owns the snapshot and the thread; the live buffers stay the caller's and
// must stay valid and unmodified until wait_copied returns.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mnemo/status.h"
#include "train/buffer.h"
#include "train/checkpoint.h"

namespace mnemo::train {

// Seconds one checkpoint cost, by where they went.
struct CheckpointTiming {
  int64_t step = 0;
  double wait_previous = 0;  // the loop waited for the previous background write
  double blocked = 0;        // the loop was blocked in all (wait_previous included)
  double write = 0;          // the background copy + write (+ fsync, rename); sync: the whole save
};

class CheckpointWriter {
 public:
  CheckpointWriter() = default;
  ~CheckpointWriter();  // waits for the write in flight (its error is dropped: call finish first)
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Starts a lazy save of live buffers into `path` (the previous write finished first; its error
  // returned). keep: the newest checkpoints of `dir` kept after the write (0: all).
  Status start_lazy(const std::string& path, const std::string& dir, int64_t keep, const CheckpointMeta& meta,
                    const float* params, const std::vector<StateTensor>& state);
  // As start_lazy, but copies into the snapshot before returning (gathered, temporary buffers).
  Status start_copied(const std::string& path, const std::string& dir, int64_t keep, const CheckpointMeta& meta,
                      const float* params, const std::vector<StateTensor>& state);
  // Blocks until the snapshot of the save in flight is complete; adds the time to its timing.
  void wait_copied();
  // Waits for the write in flight; returns its status (ok when none).
  Status finish();
  // The timing of the last save started; its `write` is final once finish returned.
  const CheckpointTiming& timing() const { return timing_; }
  // Timings of saves whose write has finished, oldest first (drained by the caller).
  std::vector<CheckpointTiming> take_finished();
  uint64_t snapshot_bytes() const { return snapshot_.bytes(); }
  // Allocates the snapshot now (floats: checkpoint_floats of the state), not at the first save.
  void reserve(int64_t floats) { snapshot_.resize(floats); }

 private:
  Status begin(const CheckpointMeta& meta, int64_t floats, double t0);
  void copy_in(const float* params, const std::vector<StateTensor>& state);
  void run(std::string path, std::string dir, int64_t keep, const float* params, std::vector<StateTensor> state,
           bool copy);

  FloatBuffer snapshot_;
  CheckpointMeta meta_;
  std::vector<StateTensor> snap_state_;  // views into snapshot_
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool copied_ = true;
  bool busy_ = false;
  Status status_;
  CheckpointTiming timing_;
  std::vector<CheckpointTiming> finished_;
};

}  // namespace mnemo::train
