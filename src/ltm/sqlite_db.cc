#include "ltm/sqlite_db.h"

#include <memory>

#include "base/strings.h"

namespace mnemo::ltm {

Status sqlite_status(int rc, sqlite3* db, const std::string& subject) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::ok();
  std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string what = subject + ": " + msg;
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return corrupt(subject + ": expected a mnemo memory database, found a damaged or foreign file (" + msg + ")");
    case SQLITE_FULL:
      return resource_exhausted(what);
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return io_error(what);
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      return invalid_argument(what);
    default:
      return internal_error(what);
  }
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (s_) sqlite3_finalize(s_);
    db_ = o.db_;
    s_ = o.s_;
    path_ = o.path_;
    o.s_ = nullptr;
  }
  return *this;
}

Stmt::~Stmt() {
  if (s_) sqlite3_finalize(s_);
}

Stmt& Stmt::bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}
Stmt& Stmt::bind(int i, double v) {
  sqlite3_bind_double(s_, i, v);
  return *this;
}
Stmt& Stmt::bind(int i, std::string_view v) {
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

Expected<bool> Stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status s = sqlite_status(rc, db_, *path_);
  sqlite3_reset(s_);
  return s;
}

Status Stmt::exec() {
  for (;;) {
    auto r = step();
    if (!r) return r.status();
    if (!*r) break;
  }
  reset();
  return Status::ok();
}

void Stmt::reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

std::string Stmt::col_text(int i) const {
  const unsigned char* p = sqlite3_column_text(s_, i);
  int n = sqlite3_column_bytes(s_, i);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

Expected<std::unique_ptr<Db>> Db::open(const std::string& path, bool create, const std::string& vfs) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, vfs.empty() ? nullptr : vfs.c_str());
  if (rc != SQLITE_OK) {
    Status s = sqlite_status(rc, db, path);
    sqlite3_close(db);
    return s;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 10000);
  return std::unique_ptr<Db>(new Db(db, path));
}

Db::~Db() {
  cache_.clear();
  sqlite3_close(db_);
}

Status Db::error(const std::string& what) const {
  return sqlite_status(sqlite3_errcode(db_), db_, path_ + " (" + what + ")");
}

Status Db::exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (err) sqlite3_free(err);
  return sqlite_status(rc, db_, path_);
}

Expected<Stmt*> Db::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    it->second->reset();
    return it->second.get();
  }
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) return sqlite_status(rc, db_, path_);
  auto stmt = std::make_unique<Stmt>(db_, s, &path_);
  Stmt* p = stmt.get();
  cache_.emplace(sql, std::move(stmt));
  return p;
}

Expected<int64_t> Db::query_int(const std::string& sql) {
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, prepare(sql));
  MNEMO_ASSIGN_OR_RETURN(bool row, s->step());
  int64_t v = row ? s->col_int(0) : 0;
  s->reset();
  return v;
}

Expected<std::string> Db::query_text(const std::string& sql) {
  MNEMO_ASSIGN_OR_RETURN(Stmt * s, prepare(sql));
  MNEMO_ASSIGN_OR_RETURN(bool row, s->step());
  std::string v = row ? s->col_text(0) : std::string();
  s->reset();
  return v;
}

}  // namespace mnemo::ltm
