// PostgreSQL session: plumbing, client startup, upstream connect, TLS and authentication
// (startup parameters and ParameterStatus: session_parameters.cc).
#include "sidecar/postgres/session.h"

#include <cstdio>

#include "common/log.h"
#include "sidecar/events/session_id.h"
#include "sidecar/postgres/backend_builders.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/frontend_builders.h"
#include "sidecar/tls/session.h"

namespace tollgate::sidecar::postgres {
namespace {

// Buffers above this are released once empty, so idle sessions stay small.
constexpr size_t kKeepBufferBytes = 16 * 1024;
// Room past a large message for the rest of the read that completes it (reads are at most
// 64 KiB): the next message arriving in the same read then does not grow the buffer again.
constexpr size_t kReadSlack = 64 * 1024;
constexpr char kMessageLimitHint[] =
    " (the largest message the sidecar holds whole to inspect; see --max-message-bytes)";

}  // namespace

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

// ---- Side callbacks ----

void PostgresSession::Side::onTransportConnected(const absl::Status& st) {
  if (client_) return;
  if (!st.ok()) {
    if (session_->config_.stats) session_->config_.stats->upstream_failures.Increment();
    session_->fatalToClient(kSqlStateConnectionFailure, "tollgate: cannot reach resource " +
                                                            session_->config_.resource->name +
                                                            ": " + std::string(st.message()));
    return;
  }
  session_->config_.upstream_address = session_->upstream_.remote();
  if (session_->config_.upstream_tls) {
    session_->to_upstream_ += buildSslRequest();
    session_->backend_->expectEncryptionResponse();
    session_->flush();
  } else if (session_->state_ == State::kCancelling) {
    session_->sendUpstreamCancel();
  } else {
    session_->sendUpstreamStartup();
  }
}

void PostgresSession::Side::onTransportData(std::string_view data) {
  if (client_) {
    session_->onClientData(data);
  } else {
    session_->onUpstreamData(data);
  }
}

void PostgresSession::Side::onTransportTlsReady(const absl::Status& st) {
  if (!st.ok()) {
    if (client_) {
      log::info("client TLS handshake failed",
                {{"session", session_->id_}, {"error", std::string(st.message())}});
      return;  // the transport closes itself; onTransportClosed follows
    }
    if (session_->config_.stats) session_->config_.stats->upstream_failures.Increment();
    session_->fatalToClient(kSqlStateConnectionFailure,
                            "tollgate: TLS to resource " + session_->config_.resource->name +
                                " failed: " + std::string(st.message()));
    return;
  }
  if (!client_) {
    if (session_->state_ == State::kCancelling) {
      session_->sendUpstreamCancel();
      return;
    }
    session_->sendUpstreamStartup();
  }
}

void PostgresSession::Side::onTransportClosed(std::string_view reason) {
  session_->onSideClosed(client_, reason);
}

void PostgresSession::Side::onTransportPeerFinished() {
  if (client_) session_->onClientFinished();
}

void PostgresSession::Side::onTransportPressure(bool above) {
  // The other side stops reading while this side cannot keep up.
  if (client_) {
    session_->upstream_held_for_client_ = above;
    session_->upstream_.readDisable(above);
  } else {
    session_->client_.readDisable(above);
  }
}

// ---- Plumbing ----

void PostgresSession::onClientData(std::string_view data) {
  bytes_in_ += data.size();
  if (config_.stats) config_.stats->bytes_from_client.Increment(static_cast<double>(data.size()));
  client_in_.append(data);
  processClient();
}

void PostgresSession::onUpstreamData(std::string_view data) {
  if (state_ == State::kClosing) return;  // nothing decodes it any more
  bytes_out_ += data.size();
  if (config_.stats) {
    config_.stats->bytes_from_upstream.Increment(static_cast<double>(data.size()));
  }
  upstream_in_.append(data);
  processUpstream();
}

void PostgresSession::processClient() {
  // A statement held for approval stops the decoding; later client bytes wait in client_in_.
  decode_waits_for_answers_ = decode_waits_for_copy_ = false;
  while (decodesClient()) {
    if (pipeline_.size() >= kMaxUnitsInFlight) {
      decode_waits_for_answers_ = true;
      break;
    }
    // A Sync after a COPY FROM STDIN the server has not answered yet waits (copy_in_unit_).
    if (copy_in_unit_ != 0 && !copy_in_ && state_ == State::kReady && !client_in_.empty() &&
        client_in_.view()[0] == 'S') {
      decode_waits_for_copy_ = true;
      break;
    }
    DecodeResult r = frontend_->decode(client_in_.view());
    if (r.status == DecodeStatus::kReadyForNext || r.status == DecodeStatus::kStopped) {
      if (r.passthrough) to_upstream_.append(client_in_.data(), r.consumed);
      client_in_.consume(r.consumed);
      if (r.status == DecodeStatus::kStopped) break;
      continue;
    }
    if (r.status == DecodeStatus::kError) {
      if (frontend_->error().code() == absl::StatusCode::kResourceExhausted) {
        fatalToClient(kSqlStateProgramLimitExceeded,
                      "tollgate: " + std::string(frontend_->error().message()) + kMessageLimitHint);
        return;
      }
      fatalToClient(kSqlStateProtocolViolation, "tollgate: invalid client message: " +
                                                    std::string(frontend_->error().message()));
      return;
    }
    if (r.wanted > kKeepBufferBytes) client_in_.reserve(r.wanted + kReadSlack);
    break;  // need more data
  }
  client_in_.shrinkIfIdle(kKeepBufferBytes);
  // Before login, while a statement is held, or with kMaxUnitsInFlight answers owed, what the
  // client sends waits in its socket rather than in memory (a client that pipelines without
  // reading, or sends before the upstream login ends).
  holdClientReads((!decodesClient() || decode_waits_for_answers_ || decode_waits_for_copy_) &&
                  client_in_.size() >= kMaxStalledClientBytes);
  if (client_finished_) {
    answerThenClose();
    return;
  }
  flush();
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

void PostgresSession::holdClientReads(bool hold) {
  if (hold == client_reads_held_) return;
  client_reads_held_ = hold;
  client_.readDisable(hold);
}

void PostgresSession::processUpstream() {
  while (state_ != State::kClosing && !scram_work_) {
    DecodeResult r = backend_->decode(upstream_in_.view());
    if (r.status == DecodeStatus::kReadyForNext || r.status == DecodeStatus::kStopped) {
      if (r.passthrough) to_client_.append(upstream_in_.data(), r.consumed);
      upstream_in_.consume(r.consumed);
      if (r.status == DecodeStatus::kStopped) break;
      continue;
    }
    if (r.status == DecodeStatus::kError) {
      if (backend_->error().code() == absl::StatusCode::kResourceExhausted) {
        fatalToClient(kSqlStateProgramLimitExceeded,
                      "tollgate: resource " + config_.resource->name + ": " +
                          std::string(backend_->error().message()) + kMessageLimitHint);
        return;
      }
      fatalToClient(kSqlStateProtocolViolation, "tollgate: invalid message from resource " +
                                                    config_.resource->name + ": " +
                                                    std::string(backend_->error().message()));
      return;
    }
    if (r.wanted > kKeepBufferBytes) upstream_in_.reserve(r.wanted + kReadSlack);
    break;
  }
  upstream_in_.shrinkIfIdle(kKeepBufferBytes);
  // The COPY FROM STDIN unit answered: the server is out of copy-in mode (a Sync sent now is
  // answered).
  if (copy_in_unit_ != 0 && (pipeline_.empty() || pipeline_.head()->seq > copy_in_unit_)) {
    copy_in_unit_ = 0;
    copy_in_ = false;
  }
  // Decoding stopped at kMaxUnitsInFlight goes on once half of them are answered; stopped at a
  // Sync after a COPY FROM STDIN, once the server said whether the copy started.
  if ((decode_waits_for_answers_ && pipeline_.size() <= kMaxUnitsInFlight / 2) ||
      (decode_waits_for_copy_ && (copy_in_unit_ == 0 || copy_in_))) {
    processClient();
  }
  // A newer policy's masking waits for nothing to be in flight (session_policy.cc).
  if (masking_owner_ && state_ == State::kReady && pipeline_.empty()) adoptMasking();
  if (state_ == State::kDraining) {
    if (!drain_delivers_) to_client_.clear();  // nobody to send it to
    if (drain_delivers_ ? pipeline_.empty() : !anyAwaitingOutcome()) {
      closeAll(drain_reason_);
      return;
    }
  }
  flush();
}

void PostgresSession::flush() {
  if (!to_upstream_.empty()) {
    upstream_.write(to_upstream_);
    to_upstream_.clear();
  }
  if (!to_client_.empty()) {
    client_.write(to_client_);
    to_client_.clear();
  }
  if (to_client_.capacity() > kKeepBufferBytes) std::string().swap(to_client_);
  if (to_upstream_.capacity() > kKeepBufferBytes) std::string().swap(to_upstream_);
}

void PostgresSession::fatalToClient(std::string_view sqlstate, const std::string& message) {
  if (state_ == State::kClosing) return;
  log::info("session ended", {{"session", id_}, {"reason", message}});
  to_client_ += buildErrorResponse({"FATAL", std::string(sqlstate), message, "", ""});
  if (!started_event_ && config_.record_refusal) emitRefused(message);
  closeAll(message);
}

void PostgresSession::terminate(const std::string& reason, std::string_view sqlstate) {
  // A statement the server was sent and has not answered keeps running after the sockets
  // close (PostgreSQL notices a closed client only when it writes): a write would commit
  // after its session was revoked or the sidecar stopped. It is cancelled instead.
  if ((state_ == State::kReady || state_ == State::kDraining) && !pipeline_.empty() &&
      own_backend_ && config_.cancel_upstream) {
    log::info("cancelling the statement in flight of an ended session", {{"session", id_}});
    config_.cancel_upstream(*own_backend_);
  }
  fatalToClient(sqlstate, "tollgate: " + reason);
}

void PostgresSession::closeAll(std::string_view reason) {
  if (state_ == State::kClosing) return;
  state_ = State::kClosing;
  flush();
  if (started_event_) emitSessionEnd(reason);
  client_.closeAfterFlush();
  closeUpstream();
  checkDone();
}

void PostgresSession::closeUpstream() {
  // What the server has not taken yet is dropped: it may not take it at all while it is blocked
  // writing results nobody reads (the session ends; its statements' events are written).
  if (upstream_.pendingWriteBytes() > 0) {
    upstream_.abort();
  } else {
    upstream_.closeAfterFlush();
  }
}

void PostgresSession::drainThenClose(std::string_view reason) {
  // A job that can still read gets every answer, as PostgreSQL answers what came before a
  // Terminate or EOF; one that is gone is waited for only as far as the audit needs.
  const bool deliver = client_.open();
  if (state_ != State::kReady || (deliver ? pipeline_.empty() : !anyAwaitingOutcome())) {
    closeAll(reason);
    return;
  }
  state_ = State::kDraining;
  drain_reason_ = std::string(reason);
  drain_delivers_ = deliver;
  if (!deliver) {
    to_client_.clear();
    client_.closeAfterFlush();
  }
  flush();
}

void PostgresSession::onClientFinished() {
  client_finished_ = true;
  // After a Terminate the FIN is expected: the answers still go out.
  if (state_ == State::kDraining && drain_delivers_) return;
  // Mid-COPY FROM STDIN, PostgreSQL fails the copy on EOF: nothing more is owed. Part of a
  // streamed message is on its way upstream: nothing can follow it. A held statement is
  // withdrawn with the job that asked for it, not run for nobody once approved.
  if (state_ != State::kReady || copy_in_ || copy_in_unit_ != 0 || held_ ||
      frontend_->midMessage()) {
    client_.abort();
    onSideClosed(true, "peer closed");
    return;
  }
  answerThenClose();
}

void PostgresSession::answerThenClose() {
  if (state_ != State::kReady) return;
  if (held_) {  // decoded after the FIN: withdrawn as above
    client_.abort();
    onSideClosed(true, "peer closed");
    return;
  }
  // What the job sent but is not decoded yet (answers owed past the limit) goes first: this
  // runs again when decoding goes on. An incomplete message left at the end is dropped, as
  // PostgreSQL drops it at EOF.
  if (!decodesClient() || decode_waits_for_answers_ || decode_waits_for_copy_) {
    flush();
    return;
  }
  // The server answers what it was sent, then reads the Terminate and closes; the answers
  // reach the job, masked as ever, and the session ends after them.
  to_upstream_ += buildTerminate();
  drainThenClose("peer closed");
}

void PostgresSession::onSideClosed(bool client, std::string_view reason) {
  // The server may be blocked writing what the client no longer reads: read it again (and
  // drop it), so that it takes what it is sent and answers what is awaited.
  if (client && upstream_held_for_client_ && state_ != State::kClosing) {
    upstream_held_for_client_ = false;
    upstream_.readDisable(false);
  }
  if (state_ == State::kDraining) {
    // The server ended the session (it read the Terminate) or dropped it: what it has not
    // answered gets a "may have run" event.
    if (!client) {
      closeAll(drain_reason_);
    } else if (std::exchange(drain_delivers_, false) && !anyAwaitingOutcome()) {
      // The half-closed job went away entirely: only writes are still waited for.
      closeAll(drain_reason_);
    }
  } else if (state_ != State::kClosing) {
    if (client && state_ == State::kReady && anyAwaitingOutcome()) {
      // The job went away without a Terminate: the server gets one after what it was sent.
      to_upstream_ += buildTerminate();
      drainThenClose(reason);
    } else if (client) {
      // The job went away: end the upstream session too (only reads are unanswered).
      state_ = State::kClosing;
      if (started_event_) emitSessionEnd(reason);
      closeUpstream();
    } else if (state_ == State::kCancelling) {
      state_ = State::kClosing;
      client_.closeAfterFlush();
    } else {
      fatalToClient(kSqlStateConnectionFailure, "tollgate: connection to resource " +
                                                    config_.resource->name +
                                                    " closed: " + std::string(reason));
    }
  }
  checkDone();
}

void PostgresSession::checkDone() {
  if (done_ || !client_.closed() || !upstream_.closed()) return;
  done_ = true;
  if (config_.stats != nullptr) config_.stats->active_connections.Decrement();
  if (on_done_) on_done_();
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
    fatalToClient(kSqlStateInvalidAuthorization, config_.refuse_reason);
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
  auto target = config_.cancels->find(cancel.process_id, std::string(cancel.secret_key));
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
