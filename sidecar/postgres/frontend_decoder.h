// Decoder for client-to-server PostgreSQL bytes: startup phase, then typed messages.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "sidecar/postgres/decoder.h"
#include "sidecar/postgres/frontend_messages.h"

namespace tollgate::sidecar::postgres {

// What to do with a large message (FrontendDecoderCallbacks::onLargeClientMessage).
enum class LargeMessage {
  kWhole,   // wait for the whole message and report it as usual
  kStream,  // pass it through in chunks, unparsed and unseen by onMessage
  kDrop,    // drop its bytes as they arrive; onMessage then gets a DroppedMessage
};

// How the decoder reaches its owner (the filter). Called synchronously from decode(), on the
// connection's loop.
class FrontendDecoderCallbacks {
 public:
  virtual ~FrontendDecoderCallbacks() = default;

  // One complete, validated client message. message.raw is the exact bytes received (the
  // caller forwards them unchanged in the common case); every view in `message` points into
  // the input given to decode() and is valid until the caller consumes those bytes.
  virtual CallbackAction onMessage(const FrontendMessage& message) = 0;

  // A message above DecoderConfig::stream_threshold whose header has arrived but whose body
  // has not, or one above max_message_length. kStream passes it through (only safe for types
  // the policy does not need, e.g. CopyData); kDrop drops it unread, so that a message the
  // owner refuses anyway is never held (a statement too long to analyse); kWhole waits for it
  // as usual (over max_message_length: an error). Asked at most once per message.
  virtual LargeMessage onLargeClientMessage(char type, uint32_t length) {
    (void)type;
    (void)length;
    return LargeMessage::kWhole;
  }
};

class FrontendDecoder {
 public:
  enum class Phase {
    kStartup,   // expecting StartupMessage, SSLRequest, GSSENCRequest or CancelRequest
    kMessages,  // after StartupMessage: typed messages
    kDone,      // after CancelRequest or Terminate: no further bytes are valid
    kError,     // terminal
  };

  virtual ~FrontendDecoder() = default;

  // Looks at `input` (the caller's unconsumed bytes, oldest first) and decodes at most one
  // message from its front, calling the callbacks. The decoder keeps no copy of the input:
  // incomplete messages stay in the caller's buffer, and the next call must be given the
  // same bytes again (plus any new ones) minus the `consumed` ones.
  virtual DecodeResult decode(std::string_view input) = 0;

  // Tells the decoder what the next 'p' message answers, as announced by the server's
  // Authentication request. After a SASLInitialResponse it expects SASLResponse by itself.
  virtual void expectAuthResponse(AuthResponseKind kind) = 0;

  virtual Phase phase() const = 0;
  // Part of a streamed or dropped message has been consumed and the rest has not come.
  virtual bool midMessage() const = 0;
  // Why the decoder entered kError (OK otherwise).
  virtual const absl::Status& error() const = 0;
};

using FrontendDecoderPtr = std::unique_ptr<FrontendDecoder>;

// `callbacks` must outlive the decoder.
FrontendDecoderPtr createFrontendDecoder(FrontendDecoderCallbacks& callbacks,
                                         const DecoderConfig& config = {});

}  // namespace tollgate::sidecar::postgres
