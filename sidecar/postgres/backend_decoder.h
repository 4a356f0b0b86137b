// Decoder for server-to-client PostgreSQL bytes: typed messages and encryption answers.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "sidecar/postgres/backend_messages.h"
#include "sidecar/postgres/decoder.h"

namespace tollgate::sidecar::postgres {

// How the decoder reaches its owner. Called synchronously from decode(), on the loop.
class BackendDecoderCallbacks {
 public:
  virtual ~BackendDecoderCallbacks() = default;

  // One complete, validated server message. As for the frontend, message.raw and every view
  // point into decode()'s input: the caller forwards raw unchanged or replaces it (e.g. a
  // DataRow rewritten by the masker) before consuming the bytes.
  virtual CallbackAction onMessage(const BackendMessage& message) = 0;

  // See FrontendDecoderCallbacks::onLargeMessage. Streaming a DataRow skips masking, so the
  // filter must only agree for messages it has no need to inspect.
  virtual bool onLargeMessage(char type, uint32_t length) {
    (void)type;
    (void)length;
    return false;
  }
};

class BackendDecoder {
 public:
  virtual ~BackendDecoder() = default;

  // Same contract as FrontendDecoder::decode().
  virtual DecodeResult decode(std::string_view input) = 0;

  // The next server byte answers an SSLRequest or GSSENCRequest: a single 'S', 'G' or 'N'
  // with no length (reported as EncryptionResponse), or an ErrorResponse from a server that
  // rejects the request.
  virtual void expectEncryptionResponse() = 0;

  virtual bool failed() const = 0;
  // Why the decoder failed (OK otherwise).
  virtual const absl::Status& error() const = 0;
};

using BackendDecoderPtr = std::unique_ptr<BackendDecoder>;

// `callbacks` must outlive the decoder.
BackendDecoderPtr createBackendDecoder(BackendDecoderCallbacks& callbacks,
                                       const DecoderConfig& config = {});

}  // namespace tollgate::sidecar::postgres
