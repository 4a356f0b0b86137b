// Frontend decoder: frames startup packets and typed client messages, validates, reports.
#include "sidecar/postgres/frontend_decoder_impl.h"

#include <algorithm>
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
  if (drop_remaining_ > 0) return dropSome(input);
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
      if (auto r = offerLarge(frame, input)) return *r;
      return fail(absl::ResourceExhaustedError(std::string(frontendTypeName(frame.type)) +
                                               " message of " + std::to_string(frame.length) +
                                               " bytes exceeds the limit of " +
                                               std::to_string(config_.max_message_length)));
    case Frame::Kind::kIncomplete:
      if (auto r = offerLarge(frame, input)) return *r;
      return {DecodeStatus::kNeedMoreData, 0, false, frame.size()};
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

std::optional<DecodeResult> FrontendDecoderImpl::offerLarge(const Frame& frame,
                                                            std::string_view input) {
  if (config_.stream_threshold == 0 || frame.length <= config_.stream_threshold) {
    return std::nullopt;
  }
  LargeMessage answer = LargeMessage::kWhole;
  if (!asked_large_) {  // asked once: a kWhole answer stands until the message is whole
    asked_large_ = true;
    answer = callbacks_.onLargeClientMessage(frame.type, frame.length);
  }
  switch (answer) {
    case LargeMessage::kWhole:
      return std::nullopt;
    case LargeMessage::kStream:
      asked_large_ = false;
      passthrough_.start(frame.size());
      return DecodeResult{DecodeStatus::kReadyForNext, passthrough_.take(input.size()), true};
    case LargeMessage::kDrop:
      asked_large_ = false;
      dropping_ = frame;
      drop_remaining_ = frame.size();
      drop_head_.clear();
      return dropSome(input);
  }
  return std::nullopt;
}

DecodeResult FrontendDecoderImpl::dropSome(std::string_view input) {
  const size_t n = std::min(input.size(), drop_remaining_);
  if (n == 0) return {DecodeStatus::kNeedMoreData, 0, false};
  // Body bytes start after the 5-byte header; the first kDroppedHeadBytes of them are kept.
  const size_t taken = dropping_.size() - drop_remaining_;
  const size_t body_limit = kHeaderSize + kDroppedHeadBytes;
  if (taken + n > kHeaderSize && taken < body_limit) {
    const size_t from = taken < kHeaderSize ? kHeaderSize - taken : 0;
    const size_t to = std::min(n, body_limit - taken);
    drop_head_.append(input.substr(from, to - from));
  }
  drop_remaining_ -= n;
  if (drop_remaining_ > 0) return {DecodeStatus::kReadyForNext, n, false};
  FrontendMessage message{dropping_.type, {}, DroppedMessage{dropping_.length, drop_head_}};
  DecodeResult r = deliver(message);
  r.consumed = n;
  return r;
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
