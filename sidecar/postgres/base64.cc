// base64 via EVP_EncodeBlock / EVP_DecodeBlock, with the padding bookkeeping they leave out.
#include "sidecar/postgres/base64.h"

#include <openssl/evp.h>

namespace tollgate::sidecar::postgres {

std::string base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  if (out.empty()) return out;
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool base64Decode(std::string_view text, std::string* out) {
  out->clear();
  if (text.size() % 4 != 0) return false;
  if (text.empty()) return true;
  size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  // '=' is only valid as trailing padding.
  if (text.substr(0, text.size() - padding).find('=') != std::string_view::npos) {
    return false;
  }
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') return false;
  }
  out->assign(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) < padding) return false;
  out->resize(static_cast<size_t>(n) - padding);
  return true;
}

}  // namespace tollgate::sidecar::postgres
