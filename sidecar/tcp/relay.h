// Plain TCP relay for destinations the policy passes through unparsed (audited as such).
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "sidecar/events/event_sink.h"
#include "sidecar/network/connection.h"

namespace tollgate::sidecar {

// Copies bytes both ways with back-pressure and records an EVENT_PASSTHROUGH when it starts
// and one when it ends (bytes each way, duration), with the identity and a session id. A FIN
// from one side is passed on to the other, which may still send (half-close, as a direct
// connection allows); the relay ends once both sides have finished, or either closes.
// Single-threaded, on one loop.
class TcpRelay : private ConnectionCallbacks {
 public:
  struct Info {
    std::string resource;  // "" for an unknown destination passed through
    std::string client_address;
    std::string source;
    std::string subject;  // the workload's identity, when known
  };
  TcpRelay(uv_loop_t* loop, Info info, EventSinkPtr events, std::function<void()> on_done);
  ~TcpRelay() override;

  // Adopts the client socket and connects to the first of `upstream` that accepts (in order).
  absl::Status start(int client_fd, std::vector<SocketAddress> upstream);
  void setOnDone(std::function<void()> on_done) { on_done_ = std::move(on_done); }
  // Ends the relay now (the sidecar is shutting down): recorded like any other end; on_done
  // follows once both sides have closed.
  void terminate(const std::string& reason);
  const std::string& id() const { return id_; }

 private:
  class UpstreamSide : public ConnectionCallbacks {
   public:
    explicit UpstreamSide(TcpRelay* r) : relay_(r) {}
    void onConnected(const absl::Status& st) override;
    void onData(std::string_view data) override;
    void onClosed(std::string_view reason) override;
    void onPeerFinished() override;
    void onWriteBufferPressure(bool above) override;

   private:
    TcpRelay* relay_;
  };

  // ConnectionCallbacks (client side)
  void onData(std::string_view data) override;
  void onClosed(std::string_view reason) override;
  void onPeerFinished() override;
  void onWriteBufferPressure(bool above) override;

  // One side sent FIN: the other gets it once what it is owed is written.
  void peerFinished(bool client);
  void finish(std::string_view reason);
  void publish(const std::string& detail, bool success);
  void sideClosed(bool client, std::string_view reason);

  uv_loop_t* loop_;
  Info info_;
  std::string id_;
  uint64_t events_sent_ = 0;
  EventSinkPtr events_;
  std::function<void()> on_done_;
  UpstreamSide upstream_side_{this};
  TcpConnectionPtr client_;
  TcpConnectionPtr upstream_;
  std::string upstream_address_;
  std::string pending_;  // client bytes that arrived before the upstream connected
  bool connected_ = false;
  bool finished_ = false;
  bool client_closed_ = false;
  bool upstream_closed_ = false;
  bool client_finished_ = false;    // the client sent FIN
  bool upstream_finished_ = false;  // the upstream sent FIN
  bool done_ = false;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace tollgate::sidecar
