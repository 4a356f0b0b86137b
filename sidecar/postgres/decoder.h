// Outcomes and limits shared by the PostgreSQL frontend and backend decoders.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sidecar/postgres/frontend_messages.h"

namespace tollgate::sidecar::postgres {

// What one decode() call did. The caller loops while the status is kReadyForNext, consuming
// `consumed` bytes from the front of its input after each call.
enum class DecodeStatus {
  kReadyForNext,  // one message (or passthrough chunk) was consumed; call again
  kNeedMoreData,  // the input holds no complete message; read more and call again
  kStopped,       // a callback asked to pause after the message it was given
  kError,         // the stream is invalid; terminal, see error()
};

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMoreData;
  // Bytes at the front of the input this call used (0 unless kReadyForNext or kStopped).
  size_t consumed = 0;
  // True when `consumed` bytes are a chunk of a streamed large message (see
  // onLargeClientMessage): no callback saw them and the caller should forward them unchanged.
  // (Chunks of a dropped message are consumed with this false: they go nowhere.)
  bool passthrough = false;
  // kNeedMoreData with a message's header read: the bytes the whole message takes, so that
  // the caller can make room for it at once instead of growing its buffer step by step.
  size_t wanted = 0;
};

// What a message callback wants next.
enum class CallbackAction {
  kContinue,  // keep decoding
  kStop,      // return kStopped now (e.g. the statement waits for an approval)
};

struct DecoderConfig {
  // Largest accepted length field (which counts itself, not the type byte) of a typed
  // message. A message must be whole in the caller's buffer before it is reported, so this
  // bounds the memory one connection can be made to hold. PostgreSQL's own limit is 1 GiB.
  uint32_t max_message_length = 1u << 30;
  // Largest accepted startup-phase packet, as PostgreSQL (MAX_STARTUP_PACKET_LENGTH).
  uint32_t max_startup_length = kMaxStartupPacket;
  // When non-zero, a typed message whose length exceeds this and is not yet whole in the
  // input is offered to the callbacks (onLargeClientMessage,
  // BackendDecoderCallbacks::onLargeMessage), which may stream it.
  uint32_t stream_threshold = 0;
};

}  // namespace tollgate::sidecar::postgres
