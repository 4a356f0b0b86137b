// Thin RAII wrappers over the SQLite C API used by the audit store: a connection and a statement.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tollgate::controlplane::audit {

// A prepared statement. Move-only; finalized on destruction. Bind indexes are 1-based, column
// indexes 0-based (as in SQLite). Views returned by text()/blob() live until the next step(),
// reset() or destruction. Not thread-safe (belongs to its connection's user).
class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(Stmt&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Stmt& operator=(Stmt&& other) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int index, int64_t value);
  Stmt& bind(int index, std::string_view text);       // bound as TEXT, copied
  Stmt& bindBlob(int index, std::string_view bytes);  // bound as BLOB, copied

  // Runs one step: true when a row is available, false when done; an error otherwise.
  absl::StatusOr<bool> step();
  // Runs to completion, ignoring rows.
  absl::Status run();
  // Resets for re-execution and clears bindings.
  void reset();

  int64_t i64(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool isNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string_view text(int column) const;
  std::string_view blob(int column) const;

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// One SQLite connection. Move-only; closed on destruction. Use from one thread at a time.
class Db {
 public:
  // Opens (creating when `create`) the database file at `path`, with a busy timeout.
  static absl::StatusOr<Db> open(const std::string& path, bool create);

  Db() = default;
  ~Db();
  Db(Db&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Db& operator=(Db&& other) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements without results.
  absl::Status exec(const std::string& sql);
  absl::StatusOr<Stmt> prepare(std::string_view sql);
  sqlite3* raw() const { return db_; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// A status for a failed SQLite call on `db`: "what: <sqlite message>".
absl::Status sqliteError(sqlite3* db, std::string_view what);

}  // namespace tollgate::controlplane::audit
