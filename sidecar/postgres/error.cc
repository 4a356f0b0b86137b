// ErrorResponse / NoticeResponse builders and readers.
#include "sidecar/postgres/error.h"

#include "absl/status/status.h"
#include "sidecar/postgres/wire.h"

namespace tollgate::sidecar::postgres {

namespace {

std::string buildNotice(char type, const ErrorFields& f) {
  std::string out;
  MessageWriter w(&out, type);
  w.u8('S').cstring(f.severity);
  w.u8('V').cstring(f.severity);
  w.u8('C').cstring(f.code);
  w.u8('M').cstring(f.message);
  if (!f.detail.empty()) w.u8('D').cstring(f.detail);
  if (!f.hint.empty()) w.u8('H').cstring(f.hint);
  if (!f.routine.empty()) w.u8('R').cstring(f.routine);
  w.u8(0);
  w.finish();
  return out;
}

}  // namespace

std::string buildErrorResponse(const ErrorFields& fields) { return buildNotice('E', fields); }

std::string buildNoticeResponse(const ErrorFields& fields) { return buildNotice('N', fields); }

ErrorFields readErrorFields(const NoticeFields& fields) {
  ErrorFields out;
  auto get = [&](char code) { return std::string(fields.get(code).value_or("")); };
  out.severity = fields.get('V') ? get('V') : get('S');
  out.code = get('C');
  out.message = get('M');
  out.detail = get('D');
  out.hint = get('H');
  out.routine = get('R');
  return out;
}

absl::StatusOr<ErrorFields> parseErrorMessage(std::string_view raw) {
  if (raw.size() < kHeaderSize || (raw[0] != 'E' && raw[0] != 'N') ||
      loadU32(raw.data() + 1) != raw.size() - 1) {
    return absl::InvalidArgumentError("not an ErrorResponse or NoticeResponse message");
  }
  absl::StatusOr<BackendBody> body = parseBackendBody(raw[0], raw.substr(kHeaderSize));
  if (!body.ok()) return body.status();
  if (const auto* e = std::get_if<ErrorResponse>(&*body)) return readErrorFields(e->fields);
  return readErrorFields(std::get<NoticeResponse>(*body).fields);
}

std::optional<std::string> rewriteNoticeFields(
    char type, const NoticeFields& fields,
    absl::FunctionRef<std::optional<std::string>(char code, std::string_view value)> fn) {
  std::string out;
  MessageWriter w(&out, type);
  bool changed = false;
  fields.forEach([&](char code, std::string_view value) {
    std::optional<std::string> replaced = fn(code, value);
    w.u8(static_cast<uint8_t>(code));
    if (replaced) {
      changed = true;
      w.cstring(std::string_view(*replaced).substr(0, replaced->find('\0')));
    } else {
      w.cstring(value);
    }
  });
  if (!changed) return std::nullopt;
  w.u8(0);
  w.finish();
  return out;
}

std::string withoutValues(std::string_view message) {
  const size_t first = message.find('"');
  std::string out;
  if (first == std::string_view::npos) {
    out = message;
  } else {
    const size_t last = message.rfind('"');
    out = message.substr(0, first + 1);
    out += "***\"";
    if (last > first) out.append(message.substr(last + 1));
  }
  for (char& c : out) {
    if (c >= '0' && c <= '9') c = '*';
  }
  return out;
}

}  // namespace tollgate::sidecar::postgres
