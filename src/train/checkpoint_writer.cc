#include "train/checkpoint_writer.h"

#include <cstring>

#include "mnemo/util.h"

namespace mnemo::train {

CheckpointWriter::~CheckpointWriter() { (void)finish(); }

Status CheckpointWriter::finish() {
  if (!thread_.joinable()) return Status::ok();
  thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  finished_.push_back(timing_);
  Status st = status_;
  status_ = Status::ok();
  return st;
}

std::vector<CheckpointTiming> CheckpointWriter::take_finished() {
  bool done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done = !busy_;
  }
  if (done && thread_.joinable()) {
    Status st = finish();  // an error stays visible: kept for the next start or finish
    if (!st.is_ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      status_ = st;
    }
  }
  std::vector<CheckpointTiming> out;
  out.swap(finished_);
  return out;
}

// Waits for the previous write (never two at once), then sizes the snapshot (once) and its views.
Status CheckpointWriter::begin(const CheckpointMeta& meta, int64_t floats, double t0) {
  Status prev = finish();
  if (prev.is_ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    prev = status_;
    status_ = Status::ok();
  }
  MNEMO_RETURN_IF_ERROR(prev);
  timing_ = CheckpointTiming{};
  timing_.step = meta.step;
  timing_.wait_previous = now_seconds() - t0;
  if (snapshot_.size() != floats) snapshot_.resize(floats);  // the first save (or another model)
  meta_ = meta;
  return Status::ok();
}

void CheckpointWriter::copy_in(const float* params, const std::vector<StateTensor>& state) {
  float* dst = snapshot_.data();
  std::memcpy(dst, params, static_cast<size_t>(meta_.n_params) * sizeof(float));
  dst += meta_.n_params;
  snap_state_.clear();
  for (const StateTensor& t : state) {
    std::memcpy(dst, t.data, static_cast<size_t>(t.n) * sizeof(float));
    snap_state_.push_back({t.name, dst, t.n});
    dst += t.n;
  }
}

// The background thread: the copy (when lazy), then the write and the pruning.
void CheckpointWriter::run(std::string path, std::string dir, int64_t keep, const float* params,
                           std::vector<StateTensor> state, bool copy) {
  const double t0 = now_seconds();
  if (copy) {
    copy_in(params, state);
    std::lock_guard<std::mutex> lock(mu_);
    copied_ = true;
    cv_.notify_all();
  }
  Status st = save_checkpoint(path, meta_, snapshot_.data(), snap_state_);
  if (st.is_ok()) prune_checkpoints(dir, keep);
  std::lock_guard<std::mutex> lock(mu_);
  timing_.write = now_seconds() - t0;
  status_ = st;
  busy_ = false;
}

Status CheckpointWriter::start_lazy(const std::string& path, const std::string& dir, int64_t keep,
                                    const CheckpointMeta& meta, const float* params,
                                    const std::vector<StateTensor>& state) {
  const double t0 = now_seconds();
  MNEMO_RETURN_IF_ERROR(begin(meta, checkpoint_floats(meta.n_params, state), t0));
  {
    std::lock_guard<std::mutex> lock(mu_);
    copied_ = false;
    busy_ = true;
  }
  thread_ = std::thread(&CheckpointWriter::run, this, path, dir, keep, params, state, true);
  timing_.blocked = now_seconds() - t0;
  return Status::ok();
}

Status CheckpointWriter::start_copied(const std::string& path, const std::string& dir, int64_t keep,
                                      const CheckpointMeta& meta, const float* params,
                                      const std::vector<StateTensor>& state) {
  const double t0 = now_seconds();
  MNEMO_RETURN_IF_ERROR(begin(meta, checkpoint_floats(meta.n_params, state), t0));
  copy_in(params, state);
  {
    std::lock_guard<std::mutex> lock(mu_);
    copied_ = true;
    busy_ = true;
  }
  thread_ = std::thread(&CheckpointWriter::run, this, path, dir, keep, params, std::vector<StateTensor>{}, false);
  timing_.blocked = now_seconds() - t0;
  return Status::ok();
}

void CheckpointWriter::wait_copied() {
  const double t0 = now_seconds();
  std::unique_lock<std::mutex> lock(mu_);
  if (copied_) return;
  cv_.wait(lock, [&] { return copied_; });
  timing_.blocked += now_seconds() - t0;
}

}  // namespace mnemo::train
