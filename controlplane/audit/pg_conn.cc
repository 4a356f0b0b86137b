// libpq wrapper: connection, parameter marshalling, result access and error mapping.
#include "controlplane/audit/pg_conn.h"

#include "controlplane/audit/chain.h"

namespace tollgate::controlplane::audit {
namespace {

// Statuses by SQLSTATE class: connection trouble is retryable (Unavailable), serialization and
// deadlock failures and constraint violations abort the transaction (Aborted).
absl::Status pgError(PGresult* r, PGconn* c) {
  std::string msg = r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(c);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  msg = "postgres: " + msg;
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string code = state != nullptr ? state : "";
  if (PQstatus(c) != CONNECTION_OK || code.rfind("08", 0) == 0 || code.rfind("57P", 0) == 0) {
    return absl::UnavailableError(msg);
  }
  if (code == "40001" || code == "40P01" || code.rfind("23", 0) == 0) {
    return absl::AbortedError(msg);
  }
  return absl::InternalError(msg);
}

}  // namespace

PgParams& PgParams::add(int64_t v) {
  values_.push_back(std::to_string(v));
  formats_.push_back(0);
  return *this;
}

PgParams& PgParams::add(std::string v) {
  values_.push_back(std::move(v));
  formats_.push_back(0);
  return *this;
}

PgParams& PgParams::addBytes(std::string_view v) {
  values_.emplace_back(v);
  formats_.push_back(1);
  return *this;
}

int64_t PgResult::i64(int row, int col) const {
  std::string_view v = bytes(row, col);
  return v.size() == 8 ? static_cast<int64_t>(readU64(v)) : 0;
}

absl::StatusOr<PgConn> PgConn::connect(const std::string& dsn) {
  PgConn conn(PQconnectdb(dsn.c_str()));
  if (!conn.conn_) return absl::ResourceExhaustedError("postgres: out of memory");
  // Keep NOTICEs (e.g. from CREATE ... IF NOT EXISTS) off stderr.
  PQsetNoticeProcessor(
      conn.conn_.get(), [](void*, const char*) {}, nullptr);
  if (PQstatus(conn.conn_.get()) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn.conn_.get());
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return absl::UnavailableError("postgres: cannot connect: " + msg);
  }
  return conn;
}

absl::Status PgConn::ensureConnected() {
  if (!conn_) return absl::FailedPreconditionError("postgres: no connection");
  if (PQstatus(conn_.get()) == CONNECTION_OK) return absl::OkStatus();
  PQreset(conn_.get());
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    return absl::UnavailableError(std::string("postgres: reconnect failed: ") +
                                  PQerrorMessage(conn_.get()));
  }
  return absl::OkStatus();
}

absl::StatusOr<PgResult> PgConn::check(PGresult* r) {
  PgResult result(r);
  const ExecStatusType st = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return result;
  return pgError(r, conn_.get());
}

absl::StatusOr<PgResult> PgConn::exec(const std::string& sql) {
  return check(PQexec(conn_.get(), sql.c_str()));
}

absl::StatusOr<PgResult> PgConn::query(const std::string& sql, const PgParams& params,
                                       bool binary) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  values.reserve(params.size());
  lengths.reserve(params.size());
  for (const std::string& v : params.values_) {
    values.push_back(v.data());
    lengths.push_back(static_cast<int>(v.size()));
  }
  return check(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()), nullptr,
                            values.data(), lengths.data(), params.formats_.data(), binary ? 1 : 0));
}

void PgConn::rollback() {
  if (healthy() && PQtransactionStatus(conn_.get()) != PQTRANS_IDLE) {
    PQclear(PQexec(conn_.get(), "ROLLBACK"));
  }
}

std::string pgText(std::string s) {
  if (s.find('\0') == std::string::npos) return s;
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    if (c == '\0') {
      out += "\xEF\xBF\xBD";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace tollgate::controlplane::audit
