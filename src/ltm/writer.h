// ltm/writer.h: the single database writer, with group commit.
//
// Callers queue jobs; the writer thread takes every job waiting (up to max_batch) into one
// transaction, runs each inside a savepoint (a failing job is rolled back alone), commits (with
// synchronous=FULL the WAL is fsynced before COMMIT returns), then runs each successful job's
// after_commit on the writer thread, in commit order, and only then releases the callers. So an
// acknowledged change is durable, and the in-RAM indexes apply changes in the database's order.
// While one transaction is being synced, new jobs queue and share the next sync: with c clients
// a sync carries up to c changes.
//
// seq: the writer hands out history sequence numbers in order (job.apply receives the next free
// one and returns how many it used).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "ltm/store.h"

namespace mnemo::ltm {

struct WriteJob {
  // Runs inside the transaction. `seq` is the first free sequence number; the job advances it
  // past the numbers it used.
  std::function<Status(Store& store, uint64_t& seq)> apply;
  // Runs on the writer thread after the commit succeeded (RAM indexes, index files).
  std::function<void()> after_commit;
};

struct WriterStats {
  uint64_t commits = 0;
  uint64_t jobs = 0;
  uint64_t failed_commits = 0;
};

class Writer {
 public:
  Writer(std::unique_ptr<Store> store, uint64_t next_seq, int max_batch);
  ~Writer();  // drains the queue, then stops

  // Queues a job and waits until it is committed (or failed).
  Status run(WriteJob job);
  // Queues a job without waiting (soft state such as access counts).
  void post(WriteJob job);
  // Runs fn on the writer thread between transactions and waits for it.
  Status call(std::function<Status(Store&)> fn);
  WriterStats stats() const;

 private:
  struct Pending {
    WriteJob job;
    std::promise<Status>* done = nullptr;  // null: posted
    std::function<Status(Store&)> call;
  };
  void loop();

  std::unique_ptr<Store> store_;
  uint64_t next_seq_;
  int max_batch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stop_ = false;
  WriterStats stats_;
  std::thread thread_;
};

}  // namespace mnemo::ltm
