// Streaming JSON rewrite: a validating tokenizer with its own container stack that copies the
// input lazily and replaces only the spans a rule changed.
#include "policy/mask/json_fields.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "common/log.h"
#include "policy/detect/number_forms.h"

namespace tollgate::policy {
namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The code unit of the 4 hex digits at `p` (already validated by the tokenizer).
uint32_t hex4(std::string_view s, size_t p) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = v * 16 + static_cast<uint32_t>(hexValue(s[p + i]));
  return v;
}

void appendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes the escapes of a string body the tokenizer validated. A lone surrogate becomes
// U+FFFD.
void decodeString(std::string_view raw, std::string* out) {
  out->clear();
  out->reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    const char e = raw[++i];
    switch (e) {
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'u': {
        uint32_t cp = hex4(raw, i + 1);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < raw.size() && raw[i + 1] == '\\' &&
            raw[i + 2] == 'u') {
          const uint32_t lo = hex4(raw, i + 3);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
        appendUtf8(cp, out);
        break;
      }
      default:
        out->push_back(e);
        break;  // '"', '\\', '/'
    }
  }
}

class Rewriter {
 public:
  Rewriter(std::string_view in, JsonValueMasker& hooks) : in_(in), hooks_(hooks) {}

  JsonRewrite run(std::string* out) {
    enum class State { kValue, kFirstValueOrEnd, kFirstKeyOrEnd, kKey, kAfterValue, kDone };
    State st = State::kValue;
    for (;;) {
      while (pos_ < in_.size() && isSpace(in_[pos_])) ++pos_;
      if (st == State::kDone) break;
      if (pos_ >= in_.size()) return JsonRewrite::kNotJson;
      const char c = in_[pos_];
      switch (st) {
        case State::kFirstValueOrEnd:
          if (c == ']') {
            close(c);
            st = stack_.empty() ? State::kDone : State::kAfterValue;
            break;
          }
          [[fallthrough]];
        case State::kValue: {
          const MaskingRuleSpec* rule = pending_;
          pending_ = nullptr;
          if (c == '{' || c == '[') {
            if (stack_.size() >= kMaxJsonDepth) return JsonRewrite::kNotJson;
            if (rule != nullptr && masking_ == nullptr) {
              masking_ = rule;
              mask_begin_ = pos_;
              mask_depth_ = stack_.size();
            }
            stack_.push_back(c);
            ++pos_;
            st = c == '{' ? State::kFirstKeyOrEnd : State::kFirstValueOrEnd;
            break;
          }
          if (!scalar(rule)) return JsonRewrite::kNotJson;
          st = stack_.empty() ? State::kDone : State::kAfterValue;
          break;
        }
        case State::kFirstKeyOrEnd:
          if (c == '}') {
            close(c);
            st = stack_.empty() ? State::kDone : State::kAfterValue;
            break;
          }
          [[fallthrough]];
        case State::kKey:
          if (!key()) return JsonRewrite::kNotJson;
          st = State::kValue;
          break;
        case State::kAfterValue:
          if (c == ',') {
            ++pos_;
            st = stack_.back() == '{' ? State::kKey : State::kValue;
          } else if ((c == '}' && stack_.back() == '{') || (c == ']' && stack_.back() == '[')) {
            close(c);
            st = stack_.empty() ? State::kDone : State::kAfterValue;
          } else {
            return JsonRewrite::kNotJson;
          }
          break;
        case State::kDone:
          break;
      }
    }
    if (pos_ != in_.size()) return JsonRewrite::kNotJson;
    if (!changed_) return JsonRewrite::kUnchanged;
    out_.append(in_.data() + copied_, in_.size() - copied_);
    *out = std::move(out_);
    return JsonRewrite::kRewritten;
  }

 private:
  // Pops the container closed by `c` (the caller checked it matches) and ends a field mask
  // spanning it.
  void close(char c) {
    (void)c;
    stack_.pop_back();
    ++pos_;
    if (masking_ != nullptr && stack_.size() == mask_depth_) {
      replaceField(*masking_, mask_begin_, pos_, in_.substr(mask_begin_, pos_ - mask_begin_));
      masking_ = nullptr;
    }
  }

  // Tokenizes the string at pos_; `content` is its decoded text (a view of the input when it
  // has no escapes, else of scratch_). Advances pos_ past the closing quote.
  bool string(std::string_view* content) {
    size_t p = pos_ + 1;
    bool escaped = false;
    for (;;) {
      if (p >= in_.size()) return false;
      const auto ch = static_cast<unsigned char>(in_[p]);
      if (ch == '"') break;
      if (ch < 0x20) return false;
      if (ch != '\\') {
        ++p;
        continue;
      }
      escaped = true;
      if (p + 1 >= in_.size()) return false;
      const char e = in_[p + 1];
      if (e == 'u') {
        if (in_.size() - p < 6) return false;
        for (size_t k = 2; k < 6; ++k) {
          if (hexValue(in_[p + k]) < 0) return false;
        }
        p += 6;
      } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                 e == 'r' || e == 't') {
        p += 2;
      } else {
        return false;
      }
    }
    const std::string_view raw = in_.substr(pos_ + 1, p - pos_ - 1);
    pos_ = p + 1;
    if (!escaped) {
      *content = raw;
    } else {
      decodeString(raw, &scratch_);
      *content = scratch_;
    }
    return true;
  }

  bool number() {
    size_t p = pos_;
    const size_t n = in_.size();
    if (in_[p] == '-') ++p;
    if (p >= n || !isDigit(in_[p])) return false;
    if (in_[p] == '0') {
      ++p;
    } else {
      while (p < n && isDigit(in_[p])) ++p;
    }
    if (p < n && in_[p] == '.') {
      ++p;
      if (p >= n || !isDigit(in_[p])) return false;
      while (p < n && isDigit(in_[p])) ++p;
    }
    if (p < n && (in_[p] == 'e' || in_[p] == 'E')) {
      ++p;
      if (p < n && (in_[p] == '+' || in_[p] == '-')) ++p;
      if (p >= n || !isDigit(in_[p])) return false;
      while (p < n && isDigit(in_[p])) ++p;
    }
    pos_ = p;
    return true;
  }

  bool literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // One string, number or literal at pos_, under the field rule `rule` (or none).
  bool scalar(const MaskingRuleSpec* rule) {
    const size_t begin = pos_;
    const char c = in_[pos_];
    if (c == '"') {
      std::string_view content;
      if (!string(&content)) return false;
      if (masking_ != nullptr) return true;
      if (rule != nullptr) {
        replaceField(*rule, begin, pos_, content);
      } else if (auto m = hooks_.maskScalar(content)) {
        replaceWithString(begin, pos_, *m);
      }
      return true;
    }
    bool is_null = false;
    if (c == '-' || isDigit(c)) {
      if (!number()) return false;
    } else if (c == 't') {
      if (!literal("true")) return false;
    } else if (c == 'f') {
      if (!literal("false")) return false;
    } else if (c == 'n') {
      if (!literal("null")) return false;
      is_null = true;
    } else {
      return false;
    }
    if (masking_ != nullptr || is_null) return true;
    const std::string_view token = in_.substr(begin, pos_ - begin);
    if (rule != nullptr) {
      replaceField(*rule, begin, pos_, token);
    } else if (c != 't' && c != 'f') {
      if (auto m = maskNumber(token)) replaceWithString(begin, pos_, *m);
    }
    return true;
  }

  // A number token as written, else, when it has a fraction or an exponent, the integer it
  // stands for ("4.111111111111111e+15"): masked digits with their sign.
  std::optional<std::string> maskNumber(std::string_view token) {
    if (auto m = hooks_.maskScalar(token)) return m;
    if (token.find_first_of(".eE") == std::string_view::npos) return std::nullopt;
    auto number = readIntegral(token, NumberForm::kDecimal);
    if (!number) return std::nullopt;
    auto m = hooks_.maskScalar(number->digits);
    if (m && number->negative) m->insert(m->begin(), '-');
    return m;
  }

  // An object key at pos_, then the ':' after it. Sets pending_ to the key's field rule.
  bool key() {
    const size_t begin = pos_;
    if (in_[pos_] != '"') return false;
    std::string_view name;
    if (!string(&name)) return false;
    if (masking_ == nullptr) {
      pending_ = hooks_.fieldRule(name);
      if (auto m = hooks_.maskScalar(name)) replaceWithString(begin, pos_, *m);
    }
    while (pos_ < in_.size() && isSpace(in_[pos_])) ++pos_;
    if (pos_ >= in_.size() || in_[pos_] != ':') return false;
    ++pos_;
    return true;
  }

  void replaceField(const MaskingRuleSpec& rule, size_t begin, size_t end, std::string_view value) {
    if (auto m = hooks_.maskField(rule, value)) replaceWithString(begin, end, *m);
  }

  void replaceWithString(size_t begin, size_t end, std::string_view text) {
    if (!changed_) out_.reserve(in_.size() + 16);
    out_.append(in_.data() + copied_, begin - copied_);
    log::appendJsonString(out_, text);
    copied_ = end;
    changed_ = true;
  }

  std::string_view in_;
  JsonValueMasker& hooks_;
  size_t pos_ = 0;
  std::vector<char> stack_;                   // '{' / '[' of each open container
  const MaskingRuleSpec* pending_ = nullptr;  // rule of the key just read
  const MaskingRuleSpec* masking_ = nullptr;  // rule of the container being masked whole
  size_t mask_begin_ = 0;
  size_t mask_depth_ = 0;
  std::string scratch_;
  std::string out_;
  size_t copied_ = 0;
  bool changed_ = false;
};

}  // namespace

JsonRewrite maskJsonFields(std::string_view json, JsonValueMasker& hooks, std::string* out) {
  Rewriter r(json, hooks);
  return r.run(out);
}

const MaskingRuleSpec* MaskerJsonValueMasker::fieldRule(std::string_view key) {
  std::string k(key);
  if (auto it = rule_cache_.find(k); it != rule_cache_.end()) return it->second;
  // A field holding a row keeps that row's field names inside it, unless the row was reshaped
  // on its way (`to_jsonb(c)->'cvv' AS k`) or the field holds sample values of any column
  // (to_json(s) of a pg_stats row): then it is masked whole.
  bool whole_row = false;
  bool reshaped = false;
  auto names = renames_.closure(key, &whole_row, &reshaped);
  const MaskingRuleSpec* rule = masker_->planColumn(names, reshaped).column_rule;
  if (rule_cache_.size() < kMaxCachedKeys) rule_cache_.emplace(std::move(k), rule);
  return rule;
}

std::optional<std::string> MaskerJsonValueMasker::maskField(const MaskingRuleSpec& rule,
                                                            std::string_view value) {
  ColumnPlan plan;
  plan.column_rule = &rule;
  std::string hit;
  auto m = masker_->maskValue(plan, value, &hit);
  if (m && rule_hit_.empty()) rule_hit_ = hit;
  return m;
}

std::optional<std::string> MaskerJsonValueMasker::maskScalar(std::string_view text) {
  std::string hit;
  auto m = masker_->maskText(text, &hit);
  if (m && rule_hit_.empty()) rule_hit_ = hit;
  return m;
}

std::optional<std::string> maskJsonOrText(const Masker& masker, std::string_view text,
                                          MaskerJsonValueMasker& fields, std::string* hit) {
  std::string out;
  switch (maskJsonFields(text, fields, &out)) {
    case JsonRewrite::kRewritten:
      if (hit != nullptr) *hit = fields.takeRuleHit();
      return out;
    case JsonRewrite::kUnchanged:
      return std::nullopt;
    case JsonRewrite::kNotJson:
      break;
  }
  return masker.maskText(text, hit);
}

const MaskingRuleSpec* quotedKeyRule(const Masker& masker, std::string_view text,
                                     bool escaped_only) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '"') continue;
    const bool escaped = i > 0 && text[i - 1] == '\\';
    if (escaped_only && !escaped) continue;
    // The key runs to the next quote (escaped the same way).
    size_t end = text.find('"', i + 1);
    while (end != std::string_view::npos && escaped && text[end - 1] != '\\') {
      end = text.find('"', end + 1);
    }
    if (end == std::string_view::npos) return nullptr;
    const std::string_view key = text.substr(i + 1, end - i - 1 - (escaped ? 1 : 0));
    size_t next = end + 1;
    while (next < text.size() &&
           (text[next] == ' ' || text[next] == '\t' || text[next] == '\n' || text[next] == '\r')) {
      ++next;
    }
    if (next < text.size() && text[next] == ':' && !key.empty() && key.size() <= 128) {
      if (const MaskingRuleSpec* rule = masker.planColumn(key).column_rule) return rule;
    }
    i = end;
  }
  return nullptr;
}

}  // namespace tollgate::policy
