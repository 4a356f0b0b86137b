// Frontend decoder: frames startup packets and typed client messages, validates, reports.
#include "sidecar/postgres/frontend_decoder_impl.h"

#include <string>
#include <utility>

namespace tollgate::sidecar::postgres {

DecodeResult FrontendDecoderImpl::decode(std::string_view input) {
  if (phase_ == Phase::kError) return {DecodeStatus::kError, 0, false};
  if (passthrough_.active()) {
    size_t n = passthrough_.take(input.size());
    if (n == 0) return {DecodeStatus::kNeedMoreData, 0, false};
    return {DecodeStatus::kReadyForNext, n, true};
  }
  if (phase_ == Phase::kDone) {
    if (input.empty()) return {DecodeStatus::kNeedMoreData, 0, false};
    return fail(absl::InvalidArgumentError("client sent data after ending the session"));
  }
  if (phase_ == Phase::kStartup) return decodeStartup(input);
  return decodeTyped(input);
}

DecodeResult FrontendDecoderImpl::decodeStartup(std::string_view input) {
  if (input.size() < kLengthSize) return {DecodeStatus::kNeedMoreData, 0, false};
  uint32_t len = loadU32(input.data());
  if (len < 2 * kLengthSize || len > config_.max_startup_length) {
    return fail(
        absl::InvalidArgumentError("invalid length of startup packet: " + std::to_string(len)));
  }
  if (input.size() < len) return {DecodeStatus::kNeedMoreData, 0, false};
  std::string_view raw = input.substr(0, len);
  absl::StatusOr<FrontendBody> body = parseStartupPacket(raw);
  if (!body.ok()) return fail(body.status());
  FrontendMessage message{0, raw, *std::move(body)};
  if (std::holds_alternative<StartupMessage>(message.body)) {
    phase_ = Phase::kMessages;
  } else if (std::holds_alternative<CancelRequest>(message.body)) {
    phase_ = Phase::kDone;
  }
  return deliver(message);
}

DecodeResult FrontendDecoderImpl::decodeTyped(std::string_view input) {
  // Judged on its first byte, as PostgreSQL does: a second StartupMessage or SSLRequest in the
  // middle of a session (type 0, then a length) must not leave the session waiting for a body.
  if (!input.empty() && !isFrontendMessageType(input[0])) {
    return fail(absl::InvalidArgumentError("invalid frontend message type " +
                                           std::to_string(static_cast<unsigned char>(input[0]))));
  }
  Frame frame = peekFrame(input, config_.max_message_length);
  switch (frame.kind) {
    case Frame::Kind::kNoHeader:
      return {DecodeStatus::kNeedMoreData, 0, false};
    case Frame::Kind::kBadLength:
      return fail(
          absl::InvalidArgumentError("invalid message length " + std::to_string(frame.length)));
    case Frame::Kind::kTooLarge:
      return fail(absl::ResourceExhaustedError(std::string(frontendTypeName(frame.type)) +
                                               " message of " + std::to_string(frame.length) +
                                               " bytes exceeds the limit of " +
                                               std::to_string(config_.max_message_length)));
    case Frame::Kind::kIncomplete:
      if (config_.stream_threshold != 0 && frame.length > config_.stream_threshold &&
          !asked_large_) {
        asked_large_ = true;
        if (callbacks_.onLargeMessage(frame.type, frame.length)) {
          asked_large_ = false;
          passthrough_.start(frame.size());
          return {DecodeStatus::kReadyForNext, passthrough_.take(input.size()), true};
        }
      }
      return {DecodeStatus::kNeedMoreData, 0, false};
    case Frame::Kind::kComplete:
      break;
  }
  asked_large_ = false;
  std::string_view raw = input.substr(0, frame.size());
  absl::StatusOr<FrontendBody> body =
      parseFrontendBody(frame.type, raw.substr(kHeaderSize), auth_kind_);
  if (!body.ok()) return fail(body.status());
  FrontendMessage message{frame.type, raw, *std::move(body)};
  if (std::holds_alternative<SaslInitialResponse>(message.body)) {
    auth_kind_ = AuthResponseKind::kSasl;
  } else if (std::holds_alternative<Terminate>(message.body)) {
    phase_ = Phase::kDone;
  }
  return deliver(message);
}

DecodeResult FrontendDecoderImpl::deliver(const FrontendMessage& message) {
  CallbackAction action = callbacks_.onMessage(message);
  DecodeStatus status =
      action == CallbackAction::kStop ? DecodeStatus::kStopped : DecodeStatus::kReadyForNext;
  return {status, message.raw.size(), false};
}

DecodeResult FrontendDecoderImpl::fail(absl::Status status) {
  phase_ = Phase::kError;
  error_ = std::move(status);
  return {DecodeStatus::kError, 0, false};
}

FrontendDecoderPtr createFrontendDecoder(FrontendDecoderCallbacks& callbacks,
                                         const DecoderConfig& config) {
  return std::make_unique<FrontendDecoderImpl>(callbacks, config);
}

}  // namespace tollgate::sidecar::postgres
