// sidecarInstance: the stream's audit source from the verified identity.
#include "controlplane/stream/sidecar_instance.h"

namespace tollgate::controlplane::stream {
namespace {

// `part` with `%`, `/` and bytes outside printable ASCII written as %XX.
std::string escapePart(std::string_view part) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(part.size());
  for (char ch : part) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '%' || c == '/') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace

std::string sidecarInstance(const v1::Identity& verified, std::string_view hello_instance_id) {
  if (!verified.pod_uid().empty()) {
    return "sidecar/" + escapePart(verified.namespace_()) + "/" + escapePart(verified.pod_name()) +
           "/" + escapePart(verified.pod_uid());
  }
  std::string_view label = hello_instance_id;
  if (label.rfind("sidecar/", 0) == 0) label.remove_prefix(8);
  return "sidecar/principal/" + escapePart(verified.issuer()) + "/" +
         escapePart(verified.subject()) + "/" + escapePart(label);
}

}  // namespace tollgate::controlplane::stream
