// The backend decoder's state machine (see backend_decoder.h for the contract).
#pragma once

#include "sidecar/postgres/backend_decoder.h"
#include "sidecar/postgres/framing.h"

namespace tollgate::sidecar::postgres {

class BackendDecoderImpl final : public BackendDecoder {
 public:
  BackendDecoderImpl(BackendDecoderCallbacks& callbacks, const DecoderConfig& config)
      : callbacks_(callbacks), config_(config) {}

  // BackendDecoder
  DecodeResult decode(std::string_view input) override;
  void expectEncryptionResponse() override { expect_encryption_response_ = true; }
  bool failed() const override { return failed_; }
  const absl::Status& error() const override { return error_; }

 private:
  DecodeResult decodeTyped(std::string_view input);
  DecodeResult deliver(const BackendMessage& message);
  DecodeResult fail(absl::Status status);

  BackendDecoderCallbacks& callbacks_;
  const DecoderConfig config_;
  bool expect_encryption_response_ = false;
  bool failed_ = false;
  Passthrough passthrough_;
  bool asked_large_ = false;
  absl::Status error_;
};

}  // namespace tollgate::sidecar::postgres
