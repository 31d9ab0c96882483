// ltm/service_impl.h: the state behind MemoryService (see include/mnemo/memory.h).
//
// Layout of a service directory: memory.db (+ -wal, -shm), vectors.bin (vector_file.h), LOCK
// (flock: one process at a time).
//
// Concurrency: requests run on the callers' threads. Reads take a user's state shared; every
// change goes through the Writer (group commit), whose thread applies it to the RAM state after
// the commit and before the caller is released. users_mu guards the user map only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ltm/bm25.h"
#include "ltm/embedder.h"
#include "ltm/retrieval.h"
#include "ltm/store.h"
#include "ltm/user_state.h"
#include "ltm/vector_file.h"
#include "ltm/vector_index.h"
#include "ltm/writer.h"
#include "mnemo/memory.h"

namespace mnemo::ltm {

int64_t now_ms();

// A memory ready to enter a user's RAM state.
struct Prepared {
  SlotMeta meta;
  Vector vec;
};

struct MemoryService::Impl {
  MemoryConfig cfg;
  std::string db_path;
  std::string vec_path;
  int lock_fd = -1;
  std::unique_ptr<Embedder> embedder;
  Vocabulary terms;   // stems
  Vocabulary labels;  // "a:<agent>", "s:<session>", "k:<kind>", "t:<tag>"; id 0 is ""

  mutable std::shared_mutex users_mu;
  std::unordered_map<std::string, std::unique_ptr<UserState>> users;

  std::unique_ptr<Writer> writer;

  std::mutex readers_mu;
  std::vector<std::unique_ptr<Store>> readers;

  std::mutex vfile_mu;
  std::unique_ptr<VectorFile> vfile;
  std::atomic<uint64_t> vfile_live{0};

  // The ANN index (SPANN, src/ltm/ann) over the memories of large users (ann_sync.cc): users with
  // at least ann_min_user_memories / 2 hot memories are mirrored into it by a background applier;
  // users with at least ann_min_user_memories are searched through it.
  std::unique_ptr<VectorIndex> ann_owner;
  std::atomic<VectorIndex*> ann{nullptr};
  std::string vector_search() const;
  struct AnnOp {
    enum Kind { kAdd, kRemove, kBulk } kind;
    uint64_t id = 0;
    uint64_t seq = 0;
    Vector vec;
    UserState* user = nullptr;
  };
  std::thread ann_thread;
  std::mutex ann_mu;
  std::condition_variable ann_cv;
  std::deque<AnnOp> ann_queue;
  bool ann_stop = false;
  std::atomic<bool> ann_failed{false};
  bool ann_enabled() const;
  int64_t ann_mirror_min() const { return std::max<int64_t>(1, cfg.ann_min_user_memories / 2); }
  Status open_ann(uint64_t max_seq);
  void ann_enqueue(AnnOp op);
  void ann_loop();
  void ann_stop_and_flush();
  // Drains the applier queue (tests, benchmarks, maintain()).
  void ann_drain();

  std::thread maint;
  std::mutex maint_mu;
  std::condition_variable maint_cv;
  bool stopping = false;
  std::unique_ptr<Store> ckpt_store;
  std::atomic<uint64_t> changes_since_maint{0};
  std::mutex maintain_mu;  // one maintain() at a time

  int64_t rebuilt_at_open = 0;
  uint64_t writer_max_seq = 0;
  Store* writer_store = nullptr;  // owned by the writer; read only for wal_frames()

  ~Impl();
  Status open();
  Status load();
  void maintenance_loop();

  // ---- helpers (service.cc)
  UserState* find_user(const std::string& user_id) const;
  UserState& user_for_write(const std::string& user_id);
  // A reader connection for the duration of a call.
  struct Lease {
    Impl* impl = nullptr;
    std::unique_ptr<Store> store;
    Lease() = default;
    Lease(Lease&& o) noexcept : impl(o.impl), store(std::move(o.store)) { o.impl = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Store* operator->() { return store.get(); }
  };
  Expected<Lease> reader();
  Status validate_scope(const Scope& s, const char* subject) const;
  // Builds the RAM form of a record; embeds unless `vec` is given.
  Expected<Prepared> prepare(const MemoryRecord& rec, uint64_t norm_hash, uint64_t seq, const Vector* vec);
  static std::string index_text(const MemoryRecord& rec);
  SlotFilter make_filter(const Filter& f) const;
  bool scope_matches(const Scope& want, const Scope& have) const;
  // RAM + index files after a committed change (writer thread).
  void ram_insert(UserState& u, Prepared&& p);
  void ram_erase(UserState& u, uint64_t id, uint64_t seq);
  // Overlays the RAM forgetting state onto a record read from the database.
  void overlay(MemoryRecord& rec, int64_t now) const;
  AnnSearch ann_for(const UserState& u);

  // ---- writes (service_write.cc)
  Expected<AddResult> add(const AddRequest& req);
  // Atomic: every request is checked first, and all are written in one transaction or none.
  Expected<std::vector<AddResult>> add_many(const std::vector<AddRequest>& reqs);
  struct AddEvolved;
  struct AddDraft;
  struct AddStep;
  Status check_add(const AddRequest& req) const;
  Status draft_add(const AddRequest& req, int64_t now, MemoryRecord& rec, uint64_t& norm_hash, Prepared& prep,
                   bool& infer);
  Status plan_add(AddDraft& d, AddStep& st);
  void plan_evolution(AddDraft& d, AddStep& st);
  Status write_steps(std::vector<AddStep>& steps, int64_t now);
  Status apply_step(Store& store, uint64_t& seq, AddStep& st, int64_t now);
  Status apply_insert(Store& store, uint64_t& seq, AddStep& st, int64_t now);
  Status merge_source(Store& store, uint64_t& seq, StoredMemory& row, const std::string& source, int64_t now);
  void after_step(AddStep& st);
  Expected<MemoryRecord> update(const UpdateRequest& req);
  Status remove(const Scope& scope, uint64_t id);
  Expected<int64_t> remove_all(const Scope& scope);
  Expected<ForgetResult> forget(const ForgetRequest& req);
  Expected<MemoryRecord> restore(const Scope& scope, uint64_t id);
  Status maintain();

  // ---- reads (service_read.cc)
  Expected<std::vector<SearchHit>> search(const SearchRequest& req);
  Expected<MemoryRecord> get(const Scope& scope, uint64_t id);
  Expected<std::vector<MemoryRecord>> list(const ListRequest& req);
  Expected<std::vector<HistoryEntry>> history(const Scope& scope, uint64_t id);
  Expected<std::vector<SearchHit>> search_cold(const SearchRequest& req, int64_t now);
};

}  // namespace mnemo::ltm
