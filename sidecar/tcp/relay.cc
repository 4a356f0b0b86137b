// TCP relay with an audit record per connection.
#include "sidecar/tcp/relay.h"

#include "common/log.h"
#include "sidecar/events/session_id.h"

namespace tollgate::sidecar {

TcpRelay::TcpRelay(uv_loop_t* loop, Info info, EventSinkPtr events, std::function<void()> on_done)
    : loop_(loop),
      info_(std::move(info)),
      id_(newSessionId()),
      events_(std::move(events)),
      on_done_(std::move(on_done)) {}

TcpRelay::~TcpRelay() = default;

absl::Status TcpRelay::start(int client_fd, std::vector<SocketAddress> upstream) {
  if (upstream.empty()) return absl::InvalidArgumentError("no upstream address");
  auto client = TcpConnection::adopt(loop_, client_fd, this);
  if (!client.ok()) return client.status();
  client_ = *std::move(client);
  client_->readDisable(true);  // until the upstream is there
  client_->allowHalfClose(true);
  upstream_address_ = upstream.front().toString();
  upstream_ = TcpConnection::connect(loop_, std::move(upstream), &upstream_side_);
  upstream_->allowHalfClose(true);
  publish("raw TCP relay started; relayed without inspection", true);
  return absl::OkStatus();
}

void TcpRelay::terminate(const std::string& reason) { finish(reason); }

void TcpRelay::publish(const std::string& detail, bool success) {
  if (!events_) return;
  v1::AuditEvent e;
  e.set_id(id_ + "-" + std::to_string(++events_sent_));
  e.set_type(v1::EVENT_PASSTHROUGH);
  auto now = std::chrono::system_clock::now().time_since_epoch();
  e.mutable_time()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  e.set_time_source("system");
  if (!info_.subject.empty()) {
    e.mutable_identity()->set_subject(info_.subject);
    e.mutable_identity()->set_principal_id(info_.subject);
    e.mutable_identity()->set_kind(v1::Identity::KIND_WORKLOAD);
  }
  auto* loc = e.mutable_location();
  loc->set_resource(info_.resource);
  loc->set_protocol("tcp");
  loc->set_upstream(upstream_address_);
  loc->set_client_addr(info_.client_address);
  loc->set_source(info_.source);
  loc->set_session_id(id_);
  e.mutable_action()->set_detail(detail);
  auto* r = e.mutable_result();
  r->set_success(success);
  r->set_bytes_in(bytes_in_);
  r->set_bytes_out(bytes_out_);
  r->set_duration_us(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::steady_clock::now() - started_)
                                               .count()));
  e.mutable_reason()->set_decision(v1::DECISION_ALLOW);
  e.mutable_reason()->add_rule_ids(info_.resource.empty()
                                       ? "defaults.unknownDestination:passthrough"
                                       : "resource:" + info_.resource);
  events_->publish(std::move(e));
}

void TcpRelay::UpstreamSide::onConnected(const absl::Status& st) {
  if (!st.ok()) {
    log::info("passthrough upstream unreachable",
              {{"upstream", relay_->upstream_address_}, {"error", std::string(st.message())}});
    relay_->upstream_closed_ = true;
    relay_->finish(std::string(st.message()));
    return;
  }
  relay_->connected_ = true;
  relay_->upstream_address_ = relay_->upstream_->remote().toString();
  relay_->client_->readDisable(false);
}

void TcpRelay::UpstreamSide::onData(std::string_view data) {
  relay_->bytes_out_ += data.size();
  relay_->client_->write(data);
}

void TcpRelay::UpstreamSide::onClosed(std::string_view reason) {
  relay_->sideClosed(false, reason);
}

void TcpRelay::UpstreamSide::onPeerFinished() { relay_->peerFinished(false); }

void TcpRelay::UpstreamSide::onWriteBufferPressure(bool above) {
  relay_->client_->readDisable(above);
}

void TcpRelay::onData(std::string_view data) {
  bytes_in_ += data.size();
  upstream_->write(data);
}

void TcpRelay::onClosed(std::string_view reason) { sideClosed(true, reason); }

void TcpRelay::onPeerFinished() { peerFinished(true); }

void TcpRelay::peerFinished(bool client) {
  (client ? client_finished_ : upstream_finished_) = true;
  if (client_finished_ && upstream_finished_) {
    finish("closed");
    return;
  }
  (client ? upstream_ : client_)->finishWrites();
}

void TcpRelay::sideClosed(bool client, std::string_view reason) {
  (client ? client_closed_ : upstream_closed_) = true;
  finish(reason);
  if (client_closed_ && upstream_closed_ && !done_) {
    done_ = true;
    if (on_done_) on_done_();
  }
}

void TcpRelay::onWriteBufferPressure(bool above) { upstream_->readDisable(above); }

void TcpRelay::finish(std::string_view reason) {
  if (finished_) return;
  finished_ = true;
  if (client_ && !client_closed_) client_->closeAfterFlush();
  if (upstream_ && !upstream_closed_) upstream_->closeAfterFlush();
  publish("raw TCP relayed without inspection; ended: " + std::string(reason), connected_);
  if (client_closed_ && upstream_closed_ && !done_) {
    done_ = true;
    if (on_done_) on_done_();
  }
}

}  // namespace tollgate::sidecar
