#include "ltm/store.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/strings.h"

namespace mnemo::ltm {
namespace {

constexpr const char* kColumns =
    "id, user_id, agent_id, session_id, text, kind, tags, keywords, context, links, sources, metadata, "
    "norm_hash, event_time, created, updated, strength, last_access, access_count, tier, seq";

template <typename T>
std::string json_list(const std::vector<T>& v) {
  return nlohmann::json(v).dump();
}

template <typename T>
std::vector<T> parse_list(const std::string& s) {
  std::vector<T> out;
  nlohmann::json j = nlohmann::json::parse(s, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& x : j) {
    if constexpr (std::is_same_v<T, std::string>) {
      if (x.is_string()) out.push_back(x.get<std::string>());
    } else {
      if (x.is_number_unsigned()) out.push_back(x.get<T>());
    }
  }
  return out;
}

StoredMemory read_row(const Stmt& s) {
  StoredMemory m;
  MemoryRecord& r = m.rec;
  r.id = static_cast<uint64_t>(s.col_int(0));
  r.scope.user_id = s.col_text(1);
  r.scope.agent_id = s.col_text(2);
  r.scope.session_id = s.col_text(3);
  r.text = s.col_text(4);
  r.kind = s.col_text(5);
  r.tags = parse_list<std::string>(s.col_text(6));
  r.keywords = parse_list<std::string>(s.col_text(7));
  r.context = s.col_text(8);
  r.links = parse_list<uint64_t>(s.col_text(9));
  r.sources = parse_list<std::string>(s.col_text(10));
  r.metadata_json = s.col_text(11);
  m.norm_hash = static_cast<uint64_t>(s.col_int(12));
  r.event_time_ms = s.col_int(13);
  r.created_ms = s.col_int(14);
  r.updated_ms = s.col_int(15);
  r.strength = s.col_double(16);
  r.last_access_ms = s.col_int(17);
  r.access_count = s.col_int(18);
  r.tier = s.col_int(19) == 1 ? Tier::kCold : Tier::kHot;
  m.seq = static_cast<uint64_t>(s.col_int(20));
  return m;
}

// Binds columns 2.. (everything but id) starting at parameter `first`.
void bind_row(Stmt& s, const StoredMemory& m, int first) {
  const MemoryRecord& r = m.rec;
  int i = first;
  s.bind(i++, r.scope.user_id);
  s.bind(i++, r.scope.agent_id);
  s.bind(i++, r.scope.session_id);
  s.bind(i++, r.text);
  s.bind(i++, r.kind);
  s.bind(i++, json_list(r.tags));
  s.bind(i++, json_list(r.keywords));
  s.bind(i++, r.context);
  s.bind(i++, json_list(r.links));
  s.bind(i++, json_list(r.sources));
  s.bind(i++, r.metadata_json);
  s.bind(i++, static_cast<int64_t>(m.norm_hash));
  s.bind(i++, r.event_time_ms);
  s.bind(i++, r.created_ms);
  s.bind(i++, r.updated_ms);
  s.bind(i++, r.strength);
  s.bind(i++, r.last_access_ms);
  s.bind(i++, r.access_count);
  s.bind(i++, static_cast<int64_t>(r.tier == Tier::kCold ? 1 : 0));
  s.bind(i++, static_cast<int64_t>(m.seq));
}

}  // namespace

Expected<std::unique_ptr<Store>> Store::open(const std::string& path, bool create, const std::string& vfs,
                                             bool read_only) {
  MNEMO_ASSIGN_OR_RETURN(auto db, Db::open(path, create, vfs));
  // The first read also tells a foreign or damaged file apart (SQLITE_NOTADB).
  MNEMO_ASSIGN_OR_RETURN(int64_t app_id, db->query_int("PRAGMA application_id"));
  MNEMO_ASSIGN_OR_RETURN(int64_t version, db->query_int("PRAGMA user_version"));
  if (app_id != 0 && app_id != kApplicationId)
    return corrupt(str_printf("%s: expected a mnemo memory database (application_id 0x%llx), found 0x%llx",
                              path.c_str(), static_cast<unsigned long long>(kApplicationId),
                              static_cast<unsigned long long>(app_id)));
  if (version > kSchemaVersion)
    return unsupported(str_printf("%s: schema version %lld is newer than this mnemo supports (%d); upgrade mnemo",
                                  path.c_str(), static_cast<long long>(version), kSchemaVersion));
  if (version == 0) {
    MNEMO_ASSIGN_OR_RETURN(int64_t n_tables, db->query_int("SELECT count(*) FROM sqlite_master"));
    if (n_tables > 0 || app_id != 0)
      return corrupt(path + ": expected a mnemo memory database, found an SQLite database of another program");
  }
  MNEMO_ASSIGN_OR_RETURN(std::string mode, db->query_text("PRAGMA journal_mode=WAL"));
  if (mode != "wal") return internal_error(path + ": expected journal_mode wal, got " + mode);
  MNEMO_RETURN_IF_ERROR(db->exec("PRAGMA synchronous=FULL"));
  MNEMO_ASSIGN_OR_RETURN(int64_t sync, db->query_int("PRAGMA synchronous"));
  if (sync != 2) return internal_error(str_printf("%s: expected synchronous=FULL (2), got %lld", path.c_str(),
                                                  static_cast<long long>(sync)));
  // Checkpoints run on a background thread (Store::checkpoint), not inside a commit.
  MNEMO_RETURN_IF_ERROR(db->exec("PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864;"
                                 "PRAGMA foreign_keys=OFF; PRAGMA cache_size=-16384"));
  if (read_only) MNEMO_RETURN_IF_ERROR(db->exec("PRAGMA query_only=1"));
  std::unique_ptr<Store> store(new Store(std::move(db)));
  if (version == 0) {
    if (read_only) return not_found(path + ": the database has no schema yet");
    MNEMO_RETURN_IF_ERROR(store->init_schema());
  }
  // The exact-duplicate re-check inside the write transaction looks rows up by hash.
  if (!read_only)
    MNEMO_RETURN_IF_ERROR(
        store->db_->exec("CREATE INDEX IF NOT EXISTS memories_by_hash ON memories(user_id, norm_hash)"));
  return store;
}

Status Store::init_schema() {
  MNEMO_RETURN_IF_ERROR(db_->exec("BEGIN IMMEDIATE"));
  Status s = db_->exec(
      "CREATE TABLE memories("
      " id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, agent_id TEXT NOT NULL,"
      " session_id TEXT NOT NULL, text TEXT NOT NULL, kind TEXT NOT NULL, tags TEXT NOT NULL,"
      " keywords TEXT NOT NULL, context TEXT NOT NULL, links TEXT NOT NULL, sources TEXT NOT NULL,"
      " metadata TEXT NOT NULL, norm_hash INTEGER NOT NULL, event_time INTEGER NOT NULL,"
      " created INTEGER NOT NULL, updated INTEGER NOT NULL, strength REAL NOT NULL,"
      " last_access INTEGER NOT NULL, access_count INTEGER NOT NULL, tier INTEGER NOT NULL,"
      " seq INTEGER NOT NULL);"
      "CREATE INDEX memories_by_user ON memories(user_id, id);"
      "CREATE TABLE history(seq INTEGER PRIMARY KEY, memory_id INTEGER NOT NULL, user_id TEXT NOT NULL,"
      " event TEXT NOT NULL, old_text TEXT NOT NULL, new_text TEXT NOT NULL, detail TEXT NOT NULL,"
      " at INTEGER NOT NULL);"
      "CREATE INDEX history_by_memory ON history(memory_id, seq);"
      "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
      "PRAGMA application_id=1296977231;"
      "PRAGMA user_version=1;");
  if (!s.is_ok()) {
    (void)db_->exec("ROLLBACK");
    return s;
  }
  return db_->exec("COMMIT");
}

Status Store::begin() { return db_->exec("BEGIN IMMEDIATE"); }
Status Store::commit() { return db_->exec("COMMIT"); }
Status Store::rollback() { return db_->exec("ROLLBACK"); }
Status Store::savepoint() { return db_->exec("SAVEPOINT job"); }
Status Store::release() { return db_->exec("RELEASE job"); }
Status Store::rollback_to() { return db_->exec("ROLLBACK TO job; RELEASE job"); }

Expected<uint64_t> Store::insert(const StoredMemory& m) {
  if (next_id_ == 0) {
    // Ids are never reused (history keeps deleted memories' ids): one past the largest ever seen.
    MNEMO_ASSIGN_OR_RETURN(int64_t a, db_->query_int("SELECT coalesce(max(id), 0) FROM memories"));
    MNEMO_ASSIGN_OR_RETURN(int64_t b, db_->query_int("SELECT coalesce(max(memory_id), 0) FROM history"));
    next_id_ = static_cast<uint64_t>(std::max(a, b)) + 1;
  }
  MNEMO_ASSIGN_OR_RETURN(
      Stmt * s, db_->prepare(std::string("INSERT INTO memories(") + kColumns +
                             ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  const uint64_t id = next_id_;
  s->bind(1, static_cast<int64_t>(id));
  bind_row(*s, m, 2);
  MNEMO_RETURN_IF_ERROR(s->exec());
  ++next_id_;  // a rolled-back insert burns its id, which is harmless
  return id;
}

Status Store::update(const StoredMemory& m) {
  MNEMO_ASSIGN_OR_RETURN(
      Stmt * s, db_->prepare("UPDATE memories SET user_id=?, agent_id=?, session_id=?, text=?, kind=?, tags=?,"
                             " keywords=?, context=?, links=?, sources=?, metadata=?, norm_hash=?, event_time=?,"
                             " created=?, updated=?, strength=?, last_access=?, access_count=?, tier=?, seq=?"
                             " WHERE id=?"));
  bind_row(*s, m, 1);
  s->bind(21, static_cast<int64_t>(m.rec.id));
  return s->exec();
}

Status Store::update_access(uint64_t id, double strength, int64_t last_access_ms, int64_t access_count) {
  MNEMO_ASSIGN_OR_RETURN(Stmt * s,
                         db_->prepare("UPDATE memories SET strength=?, last_access=?, access_count=? WHERE id=?"));
  s->bind(1, strength).bind(2, last_access_ms).bind(3, access_count).bind(4, static_cast<int64_t>(id));
  return s->exec();
}

Status Store::erase(uint64_t id) {
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, db_->prepare("DELETE FROM memories WHERE id=?"));
  s->bind(1, static_cast<int64_t>(id));
  return s->exec();
}

Status Store::set_tier(uint64_t id, Tier tier, uint64_t seq) {
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, db_->prepare("UPDATE memories SET tier=?, seq=? WHERE id=?"));
  s->bind(1, static_cast<int64_t>(tier == Tier::kCold ? 1 : 0)).bind(2, static_cast<int64_t>(seq));
  s->bind(3, static_cast<int64_t>(id));
  MNEMO_RETURN_IF_ERROR(s->exec());
  if (db_->changes() == 0) return not_found(str_printf("memory %llu: not found", static_cast<unsigned long long>(id)));
  return Status::ok();
}

Status Store::add_history(uint64_t seq, uint64_t memory_id, const std::string& user_id, const std::string& event,
                          const std::string& old_text, const std::string& new_text, const std::string& detail_json,
                          int64_t at_ms) {
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, db_->prepare("INSERT INTO history(seq, memory_id, user_id, event, old_text,"
                                                " new_text, detail, at) VALUES(?,?,?,?,?,?,?,?)"));
  s->bind(1, static_cast<int64_t>(seq)).bind(2, static_cast<int64_t>(memory_id)).bind(3, user_id).bind(4, event);
  s->bind(5, old_text).bind(6, new_text).bind(7, detail_json).bind(8, at_ms);
  return s->exec();
}

Expected<uint64_t> Store::max_seq() {
  MNEMO_ASSIGN_OR_RETURN(int64_t v, db_->query_int("SELECT coalesce(max(seq), 0) FROM history"));
  return static_cast<uint64_t>(v);
}

Expected<std::string> Store::meta(const std::string& key) {
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, db_->prepare("SELECT value FROM meta WHERE key=?"));
  s->bind(1, key);
  MNEMO_ASSIGN_OR_RETURN(bool row, s->step());
  std::string v = row ? s->col_text(0) : std::string();
  s->reset();
  return v;
}

Status Store::set_meta(const std::string& key, const std::string& value) {
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, db_->prepare("INSERT OR REPLACE INTO meta(key, value) VALUES(?,?)"));
  s->bind(1, key).bind(2, value);
  return s->exec();
}

Expected<StoredMemory> Store::get(uint64_t id) {
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, db_->prepare(std::string("SELECT ") + kColumns + " FROM memories WHERE id=?"));
  s->bind(1, static_cast<int64_t>(id));
  MNEMO_ASSIGN_OR_RETURN(bool row, s->step());
  if (!row) return not_found(str_printf("memory %llu: not found", static_cast<unsigned long long>(id)));
  StoredMemory m = read_row(*s);
  s->reset();
  return m;
}

Expected<std::vector<StoredMemory>> Store::hot_with_hash(const std::string& user_id, uint64_t norm_hash) {
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, db_->prepare(std::string("SELECT ") + kColumns +
                                                " FROM memories WHERE user_id=? AND norm_hash=? AND tier=0 ORDER BY id"));
  s->bind(1, user_id);
  s->bind(2, static_cast<int64_t>(norm_hash));
  std::vector<StoredMemory> out;
  for (;;) {
    MNEMO_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    out.push_back(read_row(*s));
  }
  s->reset();
  return out;
}

Expected<std::vector<StoredMemory>> Store::list_user(const std::string& user_id, Tier tier, uint64_t after_id,
                                                     int limit) {
  std::string sql = std::string("SELECT ") + kColumns + " FROM memories WHERE user_id=? AND id>?";
  if (tier != Tier::kAll) sql += " AND tier=?";
  sql += " ORDER BY id LIMIT ?";
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, db_->prepare(sql));
  int i = 1;
  s->bind(i++, user_id);
  s->bind(i++, static_cast<int64_t>(after_id));
  if (tier != Tier::kAll) s->bind(i++, static_cast<int64_t>(tier == Tier::kCold ? 1 : 0));
  s->bind(i++, static_cast<int64_t>(limit));
  std::vector<StoredMemory> out;
  for (;;) {
    MNEMO_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    out.push_back(read_row(*s));
  }
  s->reset();
  return out;
}

Expected<std::vector<HistoryEntry>> Store::history(uint64_t memory_id) {
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, db_->prepare("SELECT seq, memory_id, event, old_text, new_text, detail, at"
                                                " FROM history WHERE memory_id=? ORDER BY seq"));
  s->bind(1, static_cast<int64_t>(memory_id));
  std::vector<HistoryEntry> out;
  for (;;) {
    MNEMO_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    HistoryEntry h;
    h.seq = static_cast<uint64_t>(s->col_int(0));
    h.memory_id = static_cast<uint64_t>(s->col_int(1));
    h.event = s->col_text(2);
    h.old_text = s->col_text(3);
    h.new_text = s->col_text(4);
    h.detail_json = s->col_text(5);
    h.at_ms = s->col_int(6);
    out.push_back(std::move(h));
  }
  s->reset();
  return out;
}

Status Store::for_each(Tier tier, const std::function<Status(StoredMemory&&)>& fn) {
  std::string sql = std::string("SELECT ") + kColumns + " FROM memories";
  if (tier != Tier::kAll) sql += tier == Tier::kCold ? " WHERE tier=1" : " WHERE tier=0";
  sql += " ORDER BY id";
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, db_->prepare(sql));
  for (;;) {
    MNEMO_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    Status st = fn(read_row(*s));
    if (!st.is_ok()) {
      s->reset();
      return st;
    }
  }
  s->reset();
  return Status::ok();
}

Expected<int64_t> Store::count(Tier tier) {
  if (tier == Tier::kAll) return db_->query_int("SELECT count(*) FROM memories");
  return db_->query_int(tier == Tier::kCold ? "SELECT count(*) FROM memories WHERE tier=1"
                                            : "SELECT count(*) FROM memories WHERE tier=0");
}

void Store::watch_wal() {
  sqlite3_wal_hook(
      db_->raw(),
      [](void* self, sqlite3*, const char*, int frames) {
        static_cast<Store*>(self)->wal_frames_.store(frames, std::memory_order_relaxed);
        return SQLITE_OK;
      },
      this);
}

Status Store::checkpoint() {
  int log = 0, done = 0;
  int rc = sqlite3_wal_checkpoint_v2(db_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return Status::ok();
  return sqlite_status(rc, db_->raw(), db_->path());
}

}  // namespace mnemo::ltm
