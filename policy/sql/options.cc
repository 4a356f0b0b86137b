// DefElem option and constant reading: booleans, constants, READ WRITE, COPY's row format.
#include "policy/sql/options.h"

#include <optional>
#include <string>
#include <string_view>

#include "policy/sql/json_fields.h"
#include "policy/sql/statement_table.h"

namespace tollgate::policy::sql {

using nlohmann::json;

std::string constantString(const json& v) {
  const json* c = field(v, "A_Const");
  const json* sval = c == nullptr ? nullptr : field(*c, "sval");
  return sval == nullptr ? std::string() : asciiLower(str(*sval, "sval"));
}

std::string constantValue(const json& v) {
  const json* c = field(v, "A_Const");
  if (c == nullptr) return {};
  if (const json* i = field(*c, "ival")) {
    const json* n = field(*i, "ival");  // absent for 0
    return n != nullptr && n->is_number_integer() ? std::to_string(n->get<int64_t>()) : "0";
  }
  return constantString(v);
}

bool isClientValue(const json& v) {
  if (field(v, "A_Const") != nullptr || field(v, "ParamRef") != nullptr) return true;
  const json* cast = field(v, "TypeCast");
  const json* arg = cast == nullptr ? nullptr : field(*cast, "arg");
  return arg != nullptr && isClientValue(*arg);
}

bool readWriteRequested(const json* options) {
  if (options == nullptr || !options->is_array()) return false;
  for (const json& o : *options) {
    const json* d = field(o, "DefElem");
    if (d == nullptr || str(*d, "defname") != "transaction_read_only") continue;
    const json* arg = field(*d, "arg");
    if (arg == nullptr || constantValue(*arg) != "1") return true;
  }
  return false;
}

bool optionTrue(const json& defelem) {
  const json* arg = field(defelem, "arg");
  if (arg == nullptr) return true;
  if (const json* b = field(*arg, "Boolean")) return flag(*b, "boolval");
  if (const json* i = field(*arg, "Integer")) {
    const json* v = field(*i, "ival");
    return v != nullptr;  // ival 0 is omitted from the tree
  }
  if (const json* s = field(*arg, "String")) {
    const std::string v = asciiLower(str(*s, "sval"));
    return !(v == "false" || v == "off" || v == "no" || v == "0" || v == "of" || v == "n");
  }
  return true;
}

CopyOutFormat copyOutFormat(const json* options) {
  CopyOutFormat f;
  if (options == nullptr || !options->is_array()) return f;
  std::optional<std::string> delimiter, null_marker, quote, escape;
  for (const json& o : *options) {
    const json* d = field(o, "DefElem");
    if (d == nullptr) continue;
    const std::string_view name = str(*d, "defname");
    const json* arg = field(*d, "arg");
    const json* s = arg == nullptr ? nullptr : field(*arg, "String");
    std::optional<std::string> value;
    if (s != nullptr) value = std::string(str(*s, "sval"));
    if (name == "format") {
      const std::string kind = asciiLower(value.value_or(""));
      if (kind == "csv") {
        f.kind = CopyOutFormat::Kind::kCsv;
      } else if (kind == "binary") {
        f.kind = CopyOutFormat::Kind::kBinary;
      } else if (kind != "text") {
        f.readable = false;
      }
    } else if (name == "header") {
      f.header = optionTrue(*d);
    } else if (name == "delimiter") {
      delimiter = value;
    } else if (name == "null") {
      null_marker = value;
    } else if (name == "quote") {
      quote = value;
    } else if (name == "escape") {
      escape = value;
    } else if (name == "encoding") {
      f.encoding = value.value_or("");
    }
  }
  auto oneByte = [&](const std::optional<std::string>& v, char* out) {
    if (!v) return;
    if (v->size() == 1) {
      *out = (*v)[0];
    } else {
      f.readable = false;
    }
  };
  if (f.kind == CopyOutFormat::Kind::kCsv) {
    f.delimiter = ',';
    f.null_marker.clear();
  }
  oneByte(delimiter, &f.delimiter);
  if (null_marker) f.null_marker = *null_marker;
  oneByte(quote, &f.quote);
  f.escape = f.quote;
  oneByte(escape, &f.escape);
  return f;
}

}  // namespace tollgate::policy::sql
