// PostgreSQL session, the transport below the protocol: the two sides' callbacks, reading and
// decoding both ways, flushing, half-close and closing.
#include <string>
#include <string_view>

#include "common/log.h"
#include "sidecar/postgres/backend_builders.h"
#include "sidecar/postgres/error.h"
#include "sidecar/postgres/frontend_builders.h"
#include "sidecar/postgres/session.h"

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

}  // namespace tollgate::sidecar::postgres
