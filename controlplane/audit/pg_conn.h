// A thin libpq wrapper for the PostgreSQL audit store: one connection, parameterised queries,
// results by row and column, errors as absl::Status.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tollgate::controlplane::audit {

// Query parameters: integers and text are sent in text format, bytes in binary format (so a
// bytea value needs no escaping). Text values must not contain NUL (libpq passes C strings).
class PgParams {
 public:
  PgParams& add(int64_t v);
  PgParams& add(std::string v);
  PgParams& addBytes(std::string_view v);
  size_t size() const { return values_.size(); }

 private:
  friend class PgConn;
  std::vector<std::string> values_;
  std::vector<int> formats_;
};

// A query result. Views returned by text()/bytes() live as long as the result.
class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r, &PQclear) {}
  int rows() const { return PQntuples(r_.get()); }
  bool isNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  // The raw value: text for text-format results, bytes for binary-format results.
  std::string_view bytes(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col), static_cast<size_t>(PQgetlength(r_.get(), row, col))};
  }
  // A bigint column of a binary-format result (0 when NULL).
  int64_t i64(int row, int col) const;

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

// One connection. Not thread-safe: one user at a time (the store serialises or pools them).
class PgConn {
 public:
  // Connects with a libpq connection string or URI (e.g. "host=db dbname=audit sslmode=
  // verify-full"); Unavailable when the server cannot be reached or refuses the login.
  static absl::StatusOr<PgConn> connect(const std::string& dsn);
  PgConn() = default;
  PgConn(PgConn&&) = default;
  PgConn& operator=(PgConn&&) = default;

  // Runs one or more statements without parameters (simple protocol); the last result.
  absl::StatusOr<PgResult> exec(const std::string& sql);
  // Runs one statement with parameters; `binary` asks for binary-format result columns.
  absl::StatusOr<PgResult> query(const std::string& sql, const PgParams& params,
                                 bool binary = true);
  // Re-establishes a connection that went bad (server restart, network); OK when healthy.
  absl::Status ensureConnected();
  // Rolls back an open or failed transaction, ignoring errors (the connection may be gone).
  void rollback();
  bool healthy() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

 private:
  explicit PgConn(PGconn* c) : conn_(c, &PQfinish) {}
  absl::StatusOr<PgResult> check(PGresult* r);
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_{nullptr, &PQfinish};
};

// The SQL text of a value for a text-typed column: NUL, which PostgreSQL text cannot hold,
// becomes U+FFFD. The PostgreSQL store applies this to every text column and text filter.
std::string pgText(std::string s);

}  // namespace tollgate::controlplane::audit
