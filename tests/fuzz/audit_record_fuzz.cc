// Fuzzes the stored audit record decoder (canonical form) and the search page-token parser.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "controlplane/audit/chain.h"
#include "controlplane/audit/search.h"
#include "google/protobuf/stubs/logging.h"

using tollgate::controlplane::audit::decodePageToken;
using tollgate::controlplane::audit::decodeRecord;
using tollgate::controlplane::audit::encodePageToken;
using tollgate::controlplane::audit::encodeRecord;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Proto3 parse failures on invalid UTF-8 are expected here; keep the output readable.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // Anything the decoder accepts must be exactly the canonical encoding of what it decoded.
  auto event = decodeRecord(input);
  if (event.ok()) {
    auto again = encodeRecord(*event, event->sequence());
    if (!again.ok() || *again != input) std::abort();
  }
  auto token = decodePageToken(input);
  if (token.ok() && encodePageToken(*token) != input) std::abort();
  return 0;
}
