// ltm/store.h: the memory database (SQLite): schema, durability settings, rows <-> records.
//
// The database is the source of truth; every other file in the service directory is derived
// from it. It is opened in WAL mode with synchronous=FULL, both read back and asserted at open,
// so a commit returns only after the WAL holds it durably (fsync/fdatasync).
//
// Schema version 1 (PRAGMA user_version; application_id 'MNMO'):
//   memories(id, user_id, agent_id, session_id, text, kind, tags, keywords, context, links,
//            sources, metadata, norm_hash, event_time, created, updated, strength, last_access,
//            access_count, tier, seq)      lists are JSON arrays; times in ms since the epoch
//   history(seq, memory_id, user_id, event, old_text, new_text, detail, at)
//   meta(key, value)
//   index memories_by_hash(user_id, norm_hash): created at open when missing (an index only, so
//   the schema version stays 1 and older builds read the file as before)
// seq is the history sequence number of a memory's last change; index files record the highest
// seq they hold, which is how they are found to be behind after a crash.
//
// Thread-safety: a Store wraps one connection and is used by one thread at a time (the writer
// thread, or a reader taken from the service's pool).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ltm/sqlite_db.h"
#include "mnemo/memory.h"

namespace mnemo::ltm {

inline constexpr int kSchemaVersion = 1;
inline constexpr int64_t kApplicationId = 0x4d4e4d4f;  // 'MNMO'

struct StoredMemory {
  MemoryRecord rec;
  uint64_t norm_hash = 0;  // fnv1a64 of normal_form(text): exact-duplicate detection
  uint64_t seq = 0;
};

class Store {
 public:
  // Opens the database at `path`, creating it (and the schema) when `create`. Fails with
  // kUnsupported for a newer schema version, kCorrupt for a file that is not a mnemo memory
  // database, and kInternal if WAL / synchronous=FULL cannot be established.
  static Expected<std::unique_ptr<Store>> open(const std::string& path, bool create, const std::string& vfs,
                                               bool read_only);

  Db& db() { return *db_; }
  const std::string& path() const { return db_->path(); }

  Status begin();   // BEGIN IMMEDIATE
  Status commit();
  Status rollback();
  Status savepoint();
  Status release();
  Status rollback_to();

  // Inserts with a new id (one past the largest id ever used, deleted ones included); returns it.
  Expected<uint64_t> insert(const StoredMemory& m);
  Status update(const StoredMemory& m);              // every column by id
  Status update_access(uint64_t id, double strength, int64_t last_access_ms, int64_t access_count);
  Status erase(uint64_t id);
  Status set_tier(uint64_t id, Tier tier, uint64_t seq);
  Status add_history(uint64_t seq, uint64_t memory_id, const std::string& user_id, const std::string& event,
                     const std::string& old_text, const std::string& new_text, const std::string& detail_json,
                     int64_t at_ms);

  Expected<uint64_t> max_seq();
  Expected<std::string> meta(const std::string& key);
  Status set_meta(const std::string& key, const std::string& value);

  // kNotFound when absent.
  Expected<StoredMemory> get(uint64_t id);
  // Hot memories of a user with this norm_hash (exact-duplicate candidates), in id order.
  Expected<std::vector<StoredMemory>> hot_with_hash(const std::string& user_id, uint64_t norm_hash);
  // Memories of a user in id order (tier kAll for both), ids > after_id, at most `limit`.
  Expected<std::vector<StoredMemory>> list_user(const std::string& user_id, Tier tier, uint64_t after_id, int limit);
  Expected<std::vector<HistoryEntry>> history(uint64_t memory_id);
  // Every memory of a tier, in id order (loading the service state).
  Status for_each(Tier tier, const std::function<Status(StoredMemory&&)>& fn);
  Expected<int64_t> count(Tier tier);

  // PASSIVE checkpoint of the WAL into the database (never blocks the writer).
  Status checkpoint();
  // Frames in the WAL after the last commit on this connection (sqlite3_wal_hook).
  int wal_frames() const { return wal_frames_.load(std::memory_order_relaxed); }
  void watch_wal();

 private:
  explicit Store(std::unique_ptr<Db> db) : db_(std::move(db)) {}
  Status init_schema();

  std::unique_ptr<Db> db_;
  uint64_t next_id_ = 0;  // 0: not read yet (writer connection only)
  std::atomic<int> wal_frames_{0};
};

}  // namespace mnemo::ltm
