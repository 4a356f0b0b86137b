// PostgreSQL session: run-time settings. The client's startup parameters (judged like the SET
// its role may run), and the ParameterStatus messages the server sends when a setting changes
// (client_encoding followed, values scanned by the detectors).
#include <charconv>

#include "absl/strings/match.h"
#include "policy/engine.h"
#include "policy/sql/statement_table.h"
#include "sidecar/postgres/backend_builders.h"
#include "sidecar/postgres/session.h"
#include "sidecar/postgres/startup_options.h"

namespace tollgate::sidecar::postgres {
namespace {

// A `replication` startup value that turns replication off (PostgreSQL reads it as a boolean,
// or "database").
bool falseWord(std::string_view v) {
  for (std::string_view f : {"0", "false", "off", "no", "f", "n"}) {
    if (absl::EqualsIgnoreCase(absl::string_view(v.data(), v.size()),
                               absl::string_view(f.data(), f.size()))) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string PostgresSession::startupParameters(const StartupMessage& startup) {
  // Every parameter other than user, database, replication, options and protocol extensions
  // (_pq_.*) is a run-time setting the server applies before any statement: one the grant's
  // role could not SET is refused, never dropped in silence.
  std::string refusal;
  auto setting = [&](std::string_view name, std::string_view value) {
    if (startup_settings_.size() < 512) {  // names only, for the session's start event
      startup_settings_ += (startup_settings_.empty() ? "" : ",") + std::string(name.substr(0, 64));
    }
    if (refusal.empty() && !policy::settingAllowed(config_.role, name, value)) {
      const bool read_only = policy::sql::isReadOnlySetting(name);
      refusal = name == "client_encoding"
                    ? encodingNotAnalysable(value)
                    : "a " + std::string(policy::roleName(config_.role)) + " grant may not set " +
                          std::string(name.substr(0, 64)) + (read_only ? " off" : "") +
                          " at startup (it needs the " + (read_only ? "write" : "admin") + " role)";
    }
  };
  startup.forEachParameter([&](std::string_view name, std::string_view value) {
    if (name == "user") {
      client_user_ = std::string(value);
    } else if (name == "database") {
      database_ = std::string(value);
    } else if (name == "replication") {
      // Replication streams the database's rows as WAL, beyond statement policy and masking.
      if (!falseWord(value) && refusal.empty()) {
        refusal = "replication connections are not allowed through the sidecar";
      }
    } else if (name == "options") {
      auto settings = startupOptionSettings(value);
      if (!settings.ok()) {
        if (refusal.empty())
          refusal = "startup options: " + std::string(settings.status().message());
        return;
      }
      for (const auto& [n, v] : *settings) setting(n, v);
      startup_params_.emplace_back(name, value);
    } else if (name.substr(0, 5) == "_pq_.") {
      // Protocol extensions: the sidecar speaks none, so none is asked of the server, and the
      // client is told (NegotiateProtocolVersion).
      if (unrecognised_protocol_options_.size() < 64) {
        unrecognised_protocol_options_.emplace_back(name.substr(0, 64));
      }
    } else {
      setting(name, value);
      startup_params_.emplace_back(name, value);
    }
  });
  return refusal;
}

std::string encodingNotAnalysable(std::string_view encoding) {
  return "client_encoding " + std::string(encoding.substr(0, 32)) +
         " cannot be analysed (a character may hide a quote or backslash byte); use UTF8";
}

bool PostgresSession::noteParameter(const ParameterStatus& status) {
  if (status.name == "server_version") {
    // "15.4 (Debian 15.4-0+deb12u1)", "9.6.24": the major version leads.
    int major = 0;
    std::from_chars(status.value.data(), status.value.data() + status.value.size(), major);
    server_major_ = major;
  }
  if (status.name != "client_encoding") return true;
  client_encoding_ = std::string(status.value);
  if (!policy::sql::isAsciiEmbeddingEncoding(client_encoding_)) return true;
  // However it came (a role's or database's default, a function): the sidecar would no longer
  // read statements as the server does.
  terminate(encodingNotAnalysable(client_encoding_), "0A000");
  return false;
}

// The server reports settings such as application_name whenever they change, and a job can set
// one to a column's value (set_config('application_name', pan, false) where the value is
// not a constant is refused by the engine; a function in the database may still do it).
bool PostgresSession::relayParameterStatus(const BackendMessage& message,
                                           const ParameterStatus& status) {
  if (!noteParameter(status)) return false;
  if (config_.masker && config_.masker->hasDetectorRules()) {
    if (auto m = config_.masker->maskText(status.value)) {
      to_client_ += buildParameterStatus(status.name, *m);
      return true;
    }
  }
  to_client_.append(message.raw);
  return true;
}

}  // namespace tollgate::sidecar::postgres
