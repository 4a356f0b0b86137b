// Reflection walk over string fields.
#include "proto/message_strings.h"

#include <vector>

#include "common/utf8.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"

namespace tollgate::proto {
namespace {

void walk(google::protobuf::Message& message, const StringFix& fix, size_t& changed) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* refl = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  refl->ListFields(message, &fields);
  std::string scratch;
  for (const FieldDescriptor* field : fields) {
    const bool repeated = field->is_repeated();
    const int count = repeated ? refl->FieldSize(message, field) : 1;
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      for (int i = 0; i < count; ++i) {
        walk(repeated ? *refl->MutableRepeatedMessage(&message, field, i)
                      : *refl->MutableMessage(&message, field),
             fix, changed);
      }
    } else if (field->type() == FieldDescriptor::TYPE_STRING) {
      for (int i = 0; i < count; ++i) {
        const std::string& value =
            repeated ? refl->GetRepeatedStringReference(message, field, i, &scratch)
                     : refl->GetStringReference(message, field, &scratch);
        std::optional<std::string> replacement = fix(value);
        if (!replacement) continue;
        ++changed;
        if (repeated) {
          refl->SetRepeatedString(&message, field, i, std::move(*replacement));
        } else {
          refl->SetString(&message, field, std::move(*replacement));
        }
      }
    }
  }
}

}  // namespace

size_t rewriteStrings(google::protobuf::Message& message, const StringFix& fix) {
  size_t changed = 0;
  walk(message, fix, changed);
  return changed;
}

StorableCounts storableStrings(google::protobuf::Message& message, size_t max_value_bytes) {
  StorableCounts counts;
  rewriteStrings(message, [&](std::string_view value) -> std::optional<std::string> {
    const bool bad = !utf8::valid(value);
    if (!bad && value.size() <= max_value_bytes) return std::nullopt;
    std::string out = bad ? utf8::repair(value) : std::string(value);
    counts.utf8 += bad ? 1 : 0;
    if (out.size() > max_value_bytes) {
      const size_t total = out.size();
      out.resize(utf8::prefix(out, max_value_bytes).size());
      out += " [truncated: " + std::to_string(total) + " bytes]";
      ++counts.truncated;
    }
    return out;
  });
  return counts;
}

}  // namespace tollgate::proto
