// String sanitizing (UTF-8, PAN scrubbing) by protobuf reflection and the derived search columns of
// an audit record.
#include "controlplane/audit/record_index.h"

#include "controlplane/audit/search.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "policy/detect/pan.h"
#include "policy/mask/masker.h"

namespace tollgate::controlplane::audit {

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one.
size_t utf8SequenceLength(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if ((c & 0xe0) == 0xc0) {
    n = 2;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

std::string repairUtf8(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

// The sanitized form of one value, counting what changed.
std::string sanitizeValue(std::string value, SanitizeCounts& counts) {
  if (!validUtf8(value)) {
    value = repairUtf8(value);
    ++counts.utf8;
  }
  if (policy::containsPan(value)) {
    value = policy::scrubPans(value);
    ++counts.pans;
  }
  return value;
}

void sanitize(google::protobuf::Message& message, SanitizeCounts& counts) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* refl = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  refl->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const bool repeated = field->is_repeated();
    const int count = repeated ? refl->FieldSize(message, field) : 1;
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      for (int i = 0; i < count; ++i) {
        sanitize(repeated ? *refl->MutableRepeatedMessage(&message, field, i)
                          : *refl->MutableMessage(&message, field),
                 counts);
      }
    } else if (field->type() == FieldDescriptor::TYPE_STRING) {
      for (int i = 0; i < count; ++i) {
        const SanitizeCounts before = counts;
        std::string value = sanitizeValue(
            repeated ? refl->GetRepeatedString(message, field, i) : refl->GetString(message, field),
            counts);
        if (before.pans == counts.pans && before.utf8 == counts.utf8) continue;
        if (repeated) {
          refl->SetRepeatedString(&message, field, i, std::move(value));
        } else {
          refl->SetString(&message, field, std::move(value));
        }
      }
    }
  }
}

}  // namespace

bool validUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

SanitizeCounts sanitizeStrings(google::protobuf::Message& message) {
  SanitizeCounts counts;
  sanitize(message, counts);
  return counts;
}

IndexColumns indexColumns(const v1::AuditEvent& event) {
  IndexColumns c;
  auto us = timestampMicros(event.time());
  c.time_us = us.ok() ? *us : 0;
  c.event_type = event.type();
  c.decision = event.reason().decision();
  c.principal_id = event.identity().principal_id();
  c.subject = event.identity().subject();
  c.resource = event.location().resource();
  c.session_id = event.location().session_id();
  c.source = event.location().source();
  c.source_sequence = static_cast<int64_t>(event.source_sequence());
  c.text = event.action().statement();
  if (!event.action().detail().empty()) {
    if (!c.text.empty()) c.text += "\n";
    c.text += event.action().detail();
  }
  return c;
}

}  // namespace tollgate::controlplane::audit
