// PostgreSQL session: construction, decoder dispatch, client startup, upstream connect, TLS and
// authentication, cancels (startup parameters: session_parameters.cc; the transport below the
// protocol: session_transport.cc).
#include "sidecar/postgres/session.h"

#include "common/log.h"
#include "sidecar/events/session_id.h"
#include "sidecar/postgres/backend_builders.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/frontend_builders.h"
#include "sidecar/tls/session.h"

namespace tollgate::sidecar::postgres {

PostgresSession::PostgresSession(uv_loop_t* loop, SessionConfig config,
                                 std::function<void()> on_done)
    : loop_(loop),
      config_(std::move(config)),
      on_done_(std::move(on_done)),
      id_(newSessionId()),
      started_(std::chrono::steady_clock::now()) {
  DecoderConfig dc;
  dc.max_message_length =
      static_cast<uint32_t>(std::min<size_t>(config_.max_message_bytes, 1u << 30));
  DecoderConfig backend = dc;
  dc.stream_threshold = 1 << 20;  // large CopyData from the client streams through
  frontend_ = createFrontendDecoder(*this, dc);
  backend_ = createBackendDecoder(*this, backend);
  poison_token_ = "tollgate_blocked_" + newSessionId();
}

PostgresSession::~PostgresSession() {
  if (client_pid_ != 0 && config_.cancels != nullptr) config_.cancels->remove(client_pid_);
  settleTypeChanges();  // a transaction with a type change ended with the session
}

absl::Status PostgresSession::start(int client_fd) {
  if (config_.stats != nullptr) {
    config_.stats->connections.Increment();
    config_.stats->active_connections.Increment();
  }
  if (auto st = client_.adopt(loop_, client_fd); !st.ok()) return st;
  client_.allowHalfClose();
  return absl::OkStatus();
}

uint64_t PostgresSession::nowUs() const {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

bool PostgresSession::copiesFromClient(const policy::QueryFacts& facts, size_t from, size_t to) {
  for (size_t i = from; i < to && i < facts.statements.size(); ++i) {
    const policy::StatementFacts& st = facts.statements[i];
    if (st.type == "copy" && !st.writes.empty()) return true;  // COPY ... FROM
  }
  return false;
}

bool PostgresSession::resultFixedAtParse(const StatementRef& ref) {
  const policy::StatementFacts* st = ref.statement();
  return st != nullptr && st->lineage.uses.empty() && st->lineage.explains.empty() &&
         st->type != "call" && st->type != "execute" && st->type != "fetch";
}

// ---- Decoder dispatch ----

CallbackAction PostgresSession::onMessage(const FrontendMessage& message) {
  if (state_ == State::kStartup) return onStartupPacket(message);
  return onClientMessage(message);
}

LargeMessage PostgresSession::onLargeClientMessage(char type, uint32_t length) {
  // Large COPY FROM STDIN data needs no inspection: stream it instead of buffering it whole.
  if (type == 'd') return LargeMessage::kStream;
  // A statement too long to analyse is refused unread: it is not held either. A Parse's text
  // is its length less the name (the head holds up to kDroppedHeadBytes of it), the NULs and
  // the parameter types.
  constexpr size_t kParseFraming = 4 + kDroppedHeadBytes + 1 + 2 + 4 * 65535;
  const size_t max = config_.max_statement_bytes;
  if (state_ == State::kReady &&
      ((type == 'Q' && length > 4 + 1 + max) || (type == 'P' && length > kParseFraming + max))) {
    return LargeMessage::kDrop;
  }
  return LargeMessage::kWhole;
}

CallbackAction PostgresSession::onMessage(const BackendMessage& message) {
  if (state_ == State::kCancelling && !std::holds_alternative<EncryptionResponse>(message.body)) {
    // A server answers a CancelRequest only by closing the connection.
    closeAll("unexpected data on a cancel connection");
    return CallbackAction::kStop;
  }
  if (state_ == State::kConnecting || state_ == State::kAuthenticating ||
      state_ == State::kCancelling) {
    return onAuthMessage(message);
  }
  if (state_ == State::kCatalog) return onCatalogMessage(message);
  if (state_ == State::kReady || state_ == State::kDraining) return onServerMessage(message);
  return CallbackAction::kStop;
}

// ---- Startup ----

CallbackAction PostgresSession::onStartupPacket(const FrontendMessage& message) {
  if (std::holds_alternative<SslRequest>(message.body)) {
    if (!config_.client_tls || client_.tlsActive()) {
      to_client_ += "N";
      return CallbackAction::kContinue;
    }
    // Bytes after an SSLRequest and before the handshake would be plaintext injected ahead of
    // the TLS session (CVE-2021-23214): refuse them.
    if (client_in_.size() != message.raw.size()) {
      fatalToClient(kSqlStateProtocolViolation, "tollgate: unexpected data after SSLRequest");
      return CallbackAction::kStop;
    }
    auto ctx = config_.client_tls(config_.destination_name);
    if (!ctx.ok()) {
      log::warn("cannot offer TLS to client", {{"error", std::string(ctx.status().message())}});
      to_client_ += "N";
      return CallbackAction::kContinue;
    }
    auto provider = config_.client_tls;
    auto tls_session =
        tls::Session::server(*ctx, [provider](const std::string& sni) { return provider(sni); });
    if (!tls_session.ok()) {
      to_client_ += "N";
      return CallbackAction::kContinue;
    }
    to_client_ += "S";
    flush();
    client_.startTls(*std::move(tls_session));
    return CallbackAction::kContinue;
  }
  if (std::holds_alternative<GssEncRequest>(message.body)) {
    to_client_ += "N";
    return CallbackAction::kContinue;
  }
  if (const auto* cancel = std::get_if<CancelRequest>(&message.body)) {
    startCancel(*cancel);
    return CallbackAction::kStop;
  }
  const auto* startup = std::get_if<StartupMessage>(&message.body);
  if (startup == nullptr) {
    fatalToClient(kSqlStateProtocolViolation, "tollgate: expected a startup message");
    return CallbackAction::kStop;
  }
  if (!config_.refuse_reason.empty()) {
    fatalToClient(config_.refuse_sqlstate, config_.refuse_reason);
    return CallbackAction::kStop;
  }
  std::string refusal = startupParameters(*startup);
  // As PostgreSQL answers a newer minor version or protocol options, first: the session goes
  // on in protocol 3.0 without them.
  if (startup->minor_version > 0 || !unrecognised_protocol_options_.empty()) {
    to_client_ += buildNegotiateProtocolVersion(0, unrecognised_protocol_options_);
  }
  if (!refusal.empty()) {
    fatalToClient(kSqlStateInsufficientPrivilege, "tollgate: " + refusal);
    return CallbackAction::kStop;
  }
  // As PostgreSQL answers it (the name itself is not used upstream).
  if (client_user_.empty()) {
    fatalToClient(kSqlStateInvalidAuthorization,
                  "tollgate: no user name specified in the startup packet");
    return CallbackAction::kStop;
  }
  if (!config_.resource->database.empty()) database_ = config_.resource->database;
  auto cred = config_.credentials
                  ? config_.credentials->get(*config_.resource)
                  : absl::StatusOr<Credential>(absl::NotFoundError("no credential source"));
  if (!cred.ok()) {
    log::warn("no upstream credential", {{"resource", config_.resource->name},
                                         {"error", std::string(cred.status().message())}});
    fatalToClient(kSqlStateInvalidAuthorization,
                  "tollgate: no credential available for resource " + config_.resource->name);
    return CallbackAction::kStop;
  }
  credential_ = *std::move(cred);
  if (database_.empty()) database_ = credential_->username;
  connectUpstream();
  return CallbackAction::kStop;
}

void PostgresSession::connectUpstream() {
  state_ = State::kConnecting;
  if (!config_.resolve_upstream) {
    upstream_.connect(loop_, config_.upstream_address);
    return;
  }
  // The answer may come after the session has ended (the client hung up, a shutdown, the
  // startup deadline): it then finds nothing alive and touches nothing.
  std::weak_ptr<bool> alive = alive_;
  config_.resolve_upstream([this, alive](absl::StatusOr<AddressList> addresses) {
    if (!alive.lock() || state_ != State::kConnecting) return;
    if (!addresses.ok() || addresses->empty()) {
      if (config_.stats) config_.stats->upstream_failures.Increment();
      fatalToClient(kSqlStateConnectionFailure,
                    "tollgate: cannot reach resource " + config_.resource->name + ": " +
                        (addresses.ok() ? std::string("no address")
                                        : std::string(addresses.status().message())));
      return;
    }
    config_.upstream_address = addresses->front();
    upstream_.connect(loop_, *std::move(addresses));
  });
}

void PostgresSession::sendUpstreamStartup() {
  state_ = State::kAuthenticating;
  std::vector<StartupParameter> params;
  params.emplace_back("user", credential_->username);
  params.emplace_back("database", database_);
  for (const auto& [k, v] : startup_params_) params.emplace_back(k, v);
  // A read grant's transactions are read-only in the server too, so a function that writes
  // (SELECT archive_old_rows()), which statement analysis cannot see into, fails there. Last,
  // so it wins over the client's own parameters; turning it off is a write (policy).
  if (config_.role < policy::Role::kWrite)
    params.emplace_back("default_transaction_read_only", "on");
  to_upstream_ += buildStartupMessage(params);
  flush();
}

CallbackAction PostgresSession::onAuthMessage(const BackendMessage& message) {
  const std::string& resource = config_.resource->name;
  if (const auto* enc = std::get_if<EncryptionResponse>(&message.body)) {
    if (enc->answer != 'S') {
      if (config_.stats) config_.stats->upstream_failures.Increment();
      fatalToClient(kSqlStateConnectionFailure,
                    "tollgate: resource " + resource + " does not accept TLS");
      return CallbackAction::kStop;
    }
    if (upstream_in_.size() != message.raw.size()) {
      fatalToClient(kSqlStateProtocolViolation,
                    "tollgate: unexpected data from resource " + resource + " before TLS");
      return CallbackAction::kStop;
    }
    auto tls_session = tls::Session::client(config_.upstream_tls, config_.upstream_server_name);
    if (!tls_session.ok()) {
      fatalToClient(kSqlStateConnectionFailure, "tollgate: TLS to resource " + resource + ": " +
                                                    std::string(tls_session.status().message()));
      return CallbackAction::kStop;
    }
    upstream_.startTls(*std::move(tls_session));
    return CallbackAction::kContinue;
  }
  if (const auto* auth = std::get_if<Authentication>(&message.body)) {
    auto refuse = [&](const std::string& why) {
      if (config_.stats) config_.stats->upstream_failures.Increment();
      fatalToClient(kSqlStateInvalidAuthorization, "tollgate: resource " + resource + " " + why);
      return CallbackAction::kStop;
    };
    const bool new_request = auth->code == AuthCode::kCleartextPassword ||
                             auth->code == AuthCode::kMd5Password || auth->code == AuthCode::kSasl;
    if (new_request && std::exchange(password_requested_, true)) {
      return refuse("asked for a password a second time; the sidecar answers one request");
    }
    // A password (cleartext, or md5 of it with a salt the server picks, which is as good as
    // the password to whoever asked) goes only to a server its certificate proved. SCRAM
    // never reveals it, and the server proves it knows the password too.
    const bool server_verified =
        config_.upstream_tls != nullptr &&
        config_.upstream_tls->options().verify != tls::ClientOptions::Verify::kRequire;
    switch (auth->code) {
      case AuthCode::kOk:
        if (scram_) {
          return refuse(
              "ended SCRAM authentication without proving it knows the password (no valid "
              "server signature)");
        }
        to_client_ += buildAuthenticationOk();
        return CallbackAction::kContinue;
      case AuthCode::kCleartextPassword:
      case AuthCode::kMd5Password:
        if (!server_verified) {
          return refuse(std::string("asked for ") +
                        (auth->code == AuthCode::kMd5Password ? "an md5" : "a cleartext") +
                        " password, which the sidecar sends only to a server whose certificate it "
                        "verified (upstream.tls verify-full or verify-ca; this resource's is " +
                        (config_.upstream_tls == nullptr ? "disable" : "require") +
                        "); use scram-sha-256 on the server or verify its certificate");
        }
        to_upstream_ += buildPasswordMessage(
            auth->code == AuthCode::kMd5Password
                ? md5PasswordResponse(credential_->username, credential_->password, auth->salt)
                : credential_->password);
        return CallbackAction::kContinue;
      case AuthCode::kSasl: {
        if (!auth->mechanisms.contains(kScramSha256)) break;
        auto nonce = ScramSha256Client::randomNonce();
        if (!nonce.ok()) break;
        scram_ = std::make_unique<ScramSha256Client>("", credential_->password, *nonce,
                                                     config_.scram_keys);
        to_upstream_ += buildSaslInitialResponse(kScramSha256, scram_->clientFirstMessage());
        return CallbackAction::kContinue;
      }
      case AuthCode::kSaslContinue:
        return onServerFirst(auth->data);
      case AuthCode::kSaslFinal: {
        absl::Status st = scram_ ? scram_->verifyServerFinal(auth->data)
                                 : absl::InternalError("no SCRAM exchange");
        if (!st.ok()) {
          fatalToClient(kSqlStateInvalidAuthorization,
                        "tollgate: resource " + resource +
                            " failed SCRAM server verification: " + std::string(st.message()));
          return CallbackAction::kStop;
        }
        scram_.reset();
        return CallbackAction::kContinue;
      }
      default:
        break;
    }
    if (config_.stats) config_.stats->upstream_failures.Increment();
    fatalToClient(kSqlStateInvalidAuthorization,
                  "tollgate: resource " + resource +
                      " asked for an authentication method the sidecar does not support");
    return CallbackAction::kStop;
  }
  if (const auto* err = std::get_if<ErrorResponse>(&message.body)) {
    ErrorFields f = readErrorFields(err->fields);
    if (config_.stats) config_.stats->upstream_failures.Increment();
    std::string text = f.message;
    if (config_.masker) {
      if (auto m = config_.masker->maskText(text)) text = *m;
    }
    fatalToClient(f.code.empty() ? std::string(kSqlStateInvalidAuthorization) : f.code,
                  "tollgate: resource " + resource + " refused the session: " + text);
    return CallbackAction::kStop;
  }
  if (const auto* ps = std::get_if<ParameterStatus>(&message.body)) {
    return relayParameterStatus(message, *ps) ? CallbackAction::kContinue : CallbackAction::kStop;
  }
  if (std::holds_alternative<NoticeResponse>(message.body) ||
      std::holds_alternative<NegotiateProtocolVersion>(message.body)) {
    to_client_.append(message.raw);
    return CallbackAction::kContinue;
  }
  if (const auto* key = std::get_if<BackendKeyData>(&message.body)) {
    if (client_pid_ != 0) {
      fatalToClient(kSqlStateProtocolViolation,
                    "tollgate: resource " + resource + " sent BackendKeyData twice");
      return CallbackAction::kStop;
    }
    own_backend_ = CancelTarget{resource,
                                key->process_id,
                                std::string(key->secret_key),
                                config_.upstream_address,
                                config_.upstream_tls,
                                config_.upstream_server_name};
    auto [pid, secret] = config_.cancels->add(*own_backend_);
    client_pid_ = pid;
    held_key_data_ = buildBackendKeyData(pid, secret);
    return CallbackAction::kContinue;
  }
  if (std::holds_alternative<ReadyForQuery>(message.body)) return onLoggedIn(message);
  fatalToClient(kSqlStateProtocolViolation,
                "tollgate: unexpected message from resource " + resource + " during startup");
  return CallbackAction::kStop;
}

void PostgresSession::startCancel(const CancelRequest& cancel) {
  state_ = State::kCancelling;
  // A listener that refuses every session has no backend to cancel.
  std::optional<CancelTarget> target;
  if (config_.resource != nullptr && config_.cancels != nullptr) {
    target = config_.cancels->find(cancel.process_id, std::string(cancel.secret_key));
  }
  if (!target || target->resource != config_.resource->name) {
    log::info("cancel request with unknown key ignored", {{"session", id_}});
    closeAll("unknown cancel key");
    return;
  }
  startCancelOf(*target);
}

void PostgresSession::startCancelOf(const CancelTarget& target) {
  state_ = State::kCancelling;
  pending_cancel_ = CancelRequest{target.process_id, {}};
  cancel_secret_ = target.secret_key;
  // A cancel goes on a new connection to the same server, encrypted like the session was.
  config_.upstream_address = target.address;
  config_.upstream_tls = target.tls;
  config_.upstream_server_name = target.server_name;
  upstream_.connect(loop_, config_.upstream_address);
}

void PostgresSession::sendUpstreamCancel() {
  to_upstream_ += buildCancelRequest(pending_cancel_->process_id, cancel_secret_);
  flush();
  // The server closes the connection once it has signalled the backend; only then is the
  // cancel done, and only then does the client's cancel connection close (onSideClosed). A
  // driver waits for that close before its next statement, which a cancel still in flight
  // would otherwise hit.
}

}  // namespace tollgate::sidecar::postgres
