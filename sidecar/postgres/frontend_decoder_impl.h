// The frontend decoder's state machine (see frontend_decoder.h for the contract).
#pragma once

#include <optional>
#include <string>

#include "sidecar/postgres/framing.h"
#include "sidecar/postgres/frontend_decoder.h"

namespace tollgate::sidecar::postgres {

class FrontendDecoderImpl final : public FrontendDecoder {
 public:
  FrontendDecoderImpl(FrontendDecoderCallbacks& callbacks, const DecoderConfig& config)
      : callbacks_(callbacks), config_(config) {}

  // FrontendDecoder
  DecodeResult decode(std::string_view input) override;
  void expectAuthResponse(AuthResponseKind kind) override { auth_kind_ = kind; }
  Phase phase() const override { return phase_; }
  bool midMessage() const override { return passthrough_.active() || drop_remaining_ > 0; }
  const absl::Status& error() const override { return error_; }

 private:
  DecodeResult decodeStartup(std::string_view input);
  DecodeResult decodeTyped(std::string_view input);
  DecodeResult deliver(const FrontendMessage& message);
  DecodeResult fail(absl::Status status);
  // Asks onLargeClientMessage about the message framed at the front of `input`; nullopt: kWhole.
  std::optional<DecodeResult> offerLarge(const Frame& frame, std::string_view input);
  // Drops the next bytes of a message being dropped; reports it once all are gone.
  DecodeResult dropSome(std::string_view input);

  FrontendDecoderCallbacks& callbacks_;
  const DecoderConfig config_;
  Phase phase_ = Phase::kStartup;
  AuthResponseKind auth_kind_ = AuthResponseKind::kUnknown;
  Passthrough passthrough_;
  bool asked_large_ = false;  // onLargeClientMessage already answered for the pending message
  // The message being dropped (LargeMessage::kDrop): its frame, how much of it is still to
  // come, and the first bytes of its body.
  Frame dropping_;
  size_t drop_remaining_ = 0;
  std::string drop_head_;
  absl::Status error_;
};

}  // namespace tollgate::sidecar::postgres
