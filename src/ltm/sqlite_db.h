// ltm/sqlite_db.h: a thin RAII layer over SQLite connections and prepared statements.
//
// Errors become Status with the database path as subject. A Db is used by one thread at a time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mnemo/status.h"

namespace mnemo::ltm {

class Stmt {
 public:
  Stmt() = default;
  Stmt(sqlite3* db, sqlite3_stmt* s, const std::string* path) : db_(db), s_(s), path_(path) {}
  Stmt(Stmt&& o) noexcept : db_(o.db_), s_(o.s_), path_(o.path_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  ~Stmt();

  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, double v);
  Stmt& bind(int i, std::string_view v);
  Stmt& bind_null(int i);
  // Next row: true for a row, false when done; errors as Status.
  Expected<bool> step();
  // Runs to completion (statements that return no rows).
  Status exec();
  void reset();

  int64_t col_int(int i) const { return sqlite3_column_int64(s_, i); }
  double col_double(int i) const { return sqlite3_column_double(s_, i); }
  std::string col_text(int i) const;
  bool col_null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* s_ = nullptr;
  const std::string* path_ = nullptr;
};

class Db {
 public:
  // Opens (creating when `create`) the database at `path` through VFS `vfs` (empty: default).
  static Expected<std::unique_ptr<Db>> open(const std::string& path, bool create, const std::string& vfs);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements without results.
  Status exec(const std::string& sql);
  // A cached prepared statement for `sql`, reset and ready to bind. Valid until the next call
  // with the same sql.
  Expected<Stmt*> prepare(const std::string& sql);
  // A single integer or text value of a query ("PRAGMA journal_mode").
  Expected<int64_t> query_int(const std::string& sql);
  Expected<std::string> query_text(const std::string& sql);
  int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
  int changes() const { return sqlite3_changes(db_); }
  Status error(const std::string& what) const;
  sqlite3* raw() { return db_; }
  const std::string& path() const { return path_; }

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, std::unique_ptr<Stmt>> cache_;
};

// Maps an SQLite result code to a Status about `subject`.
Status sqlite_status(int rc, sqlite3* db, const std::string& subject);

}  // namespace mnemo::ltm
