// Backend decoder: frames typed server messages (and the one-byte encryption answer).
#include "sidecar/postgres/backend_decoder_impl.h"

#include <string>
#include <utility>

namespace tollgate::sidecar::postgres {

DecodeResult BackendDecoderImpl::decode(std::string_view input) {
  if (failed_) return {DecodeStatus::kError, 0, false};
  if (passthrough_.active()) {
    size_t n = passthrough_.take(input.size());
    if (n == 0) return {DecodeStatus::kNeedMoreData, 0, false};
    return {DecodeStatus::kReadyForNext, n, true};
  }
  if (expect_encryption_response_) {
    if (input.empty()) return {DecodeStatus::kNeedMoreData, 0, false};
    char answer = input[0];
    if (answer == 'S' || answer == 'G' || answer == 'N') {
      expect_encryption_response_ = false;
      return deliver(BackendMessage{0, input.substr(0, 1), EncryptionResponse{answer}});
    }
    if (answer != 'E') {
      return fail(absl::InvalidArgumentError("invalid answer to an encryption request: " +
                                             std::to_string(static_cast<unsigned char>(answer))));
    }
    // An ErrorResponse rejects the request; decode it as a typed message.
    Frame frame = peekFrame(input, config_.max_message_length);
    if (frame.kind == Frame::Kind::kComplete) expect_encryption_response_ = false;
  }
  return decodeTyped(input);
}

DecodeResult BackendDecoderImpl::decodeTyped(std::string_view input) {
  Frame frame = peekFrame(input, config_.max_message_length);
  switch (frame.kind) {
    case Frame::Kind::kNoHeader:
      return {DecodeStatus::kNeedMoreData, 0, false};
    case Frame::Kind::kBadLength:
      return fail(absl::InvalidArgumentError("invalid server message length " +
                                             std::to_string(frame.length)));
    case Frame::Kind::kTooLarge:
      return fail(absl::ResourceExhaustedError(
          std::string(backendTypeName(frame.type)) + " message of " + std::to_string(frame.length) +
          " bytes exceeds the limit of " + std::to_string(config_.max_message_length)));
    case Frame::Kind::kIncomplete:
      if (config_.stream_threshold != 0 && frame.length > config_.stream_threshold &&
          !asked_large_ && !expect_encryption_response_) {
        asked_large_ = true;
        if (callbacks_.onLargeMessage(frame.type, frame.length)) {
          asked_large_ = false;
          passthrough_.start(frame.size());
          return {DecodeStatus::kReadyForNext, passthrough_.take(input.size()), true};
        }
      }
      return {DecodeStatus::kNeedMoreData, 0, false, frame.size()};
    case Frame::Kind::kComplete:
      break;
  }
  asked_large_ = false;
  std::string_view raw = input.substr(0, frame.size());
  absl::StatusOr<BackendBody> body = parseBackendBody(frame.type, raw.substr(kHeaderSize));
  if (!body.ok()) return fail(body.status());
  return deliver(BackendMessage{frame.type, raw, *std::move(body)});
}

DecodeResult BackendDecoderImpl::deliver(const BackendMessage& message) {
  CallbackAction action = callbacks_.onMessage(message);
  DecodeStatus status =
      action == CallbackAction::kStop ? DecodeStatus::kStopped : DecodeStatus::kReadyForNext;
  return {status, message.raw.size(), false};
}

DecodeResult BackendDecoderImpl::fail(absl::Status status) {
  failed_ = true;
  error_ = std::move(status);
  return {DecodeStatus::kError, 0, false};
}

BackendDecoderPtr createBackendDecoder(BackendDecoderCallbacks& callbacks,
                                       const DecoderConfig& config) {
  return std::make_unique<BackendDecoderImpl>(callbacks, config);
}

}  // namespace tollgate::sidecar::postgres
