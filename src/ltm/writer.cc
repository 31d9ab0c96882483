#include "ltm/writer.h"

#include <vector>

#include "base/log.h"

namespace mnemo::ltm {

Writer::Writer(std::unique_ptr<Store> store, uint64_t next_seq, int max_batch)
    : store_(std::move(store)), next_seq_(next_seq), max_batch_(max_batch < 1 ? 1 : max_batch) {
  thread_ = std::thread([this] { loop(); });
}

Writer::~Writer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status Writer::run(WriteJob job) {
  std::promise<Status> done;
  auto fut = done.get_future();
  {
    std::lock_guard lock(mu_);
    if (stop_) return internal_error("memory service: the writer is stopping");
    queue_.push_back({std::move(job), &done, {}});
  }
  cv_.notify_one();
  return fut.get();
}

void Writer::post(WriteJob job) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    queue_.push_back({std::move(job), nullptr, {}});
  }
  cv_.notify_one();
}

Status Writer::call(std::function<Status(Store&)> fn) {
  std::promise<Status> done;
  auto fut = done.get_future();
  {
    std::lock_guard lock(mu_);
    if (stop_) return internal_error("memory service: the writer is stopping");
    queue_.push_back({{}, &done, std::move(fn)});
  }
  cv_.notify_one();
  return fut.get();
}

WriterStats Writer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Writer::loop() {
  std::vector<Pending> batch;
  for (;;) {
    batch.clear();
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty() && stop_) return;
      // A call() runs alone, between transactions.
      if (queue_.front().call) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      } else {
        while (!queue_.empty() && !queue_.front().call && static_cast<int>(batch.size()) < max_batch_) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    if (batch.size() == 1 && batch[0].call) {
      Status s = batch[0].call(*store_);
      batch[0].done->set_value(s);
      continue;
    }
    std::vector<Status> results(batch.size());
    Status tx = store_->begin();
    if (tx.is_ok()) {
      for (size_t i = 0; i < batch.size(); ++i) {
        Status s = store_->savepoint();
        if (s.is_ok()) {
          uint64_t seq = next_seq_;
          s = batch[i].job.apply(*store_, seq);
          if (s.is_ok()) {
            s = store_->release();
            if (s.is_ok()) next_seq_ = seq;
          } else {
            Status r = store_->rollback_to();
            if (!r.is_ok()) MNEMO_LOG_WARN("memory writer: rollback to savepoint failed: %s", r.message().c_str());
          }
        }
        results[i] = s;
      }
      tx = store_->commit();
      if (!tx.is_ok()) (void)store_->rollback();
    }
    {
      std::lock_guard lock(mu_);
      ++stats_.commits;
      stats_.jobs += batch.size();
      if (!tx.is_ok()) ++stats_.failed_commits;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      Status s = tx.is_ok() ? results[i] : tx;
      if (s.is_ok() && batch[i].job.after_commit) batch[i].job.after_commit();
      if (batch[i].done) batch[i].done->set_value(s);
      else if (!s.is_ok()) MNEMO_LOG_WARN("memory writer: background write failed: %s", s.message().c_str());
    }
  }
}

}  // namespace mnemo::ltm
