// Names of the policy enums as written in policy files.
#include "policy/model.h"

namespace tollgate::policy {

std::string_view protocolName(Protocol p) {
  switch (p) {
    case Protocol::kPostgres:
      return "postgres";
    case Protocol::kMysql:
      return "mysql";
    case Protocol::kHttp:
      return "http";
    case Protocol::kTcp:
      return "tcp";
  }
  return "tcp";
}

std::string_view tlsModeName(TlsMode t) {
  switch (t) {
    case TlsMode::kDisable:
      return "disable";
    case TlsMode::kRequire:
      return "require";
    case TlsMode::kVerifyCa:
      return "verify-ca";
    case TlsMode::kVerifyFull:
      return "verify-full";
  }
  return "verify-full";
}

std::string_view roleName(Role r) {
  switch (r) {
    case Role::kRead:
      return "read";
    case Role::kWrite:
      return "write";
    case Role::kAdmin:
      return "admin";
  }
  return "read";
}

std::string_view decisionName(Decision d) {
  switch (d) {
    case Decision::kAllow:
      return "allow";
    case Decision::kReview:
      return "review";
    case Decision::kBlock:
      return "block";
  }
  return "block";
}

bool parseProtocol(std::string_view s, Protocol* out) {
  for (Protocol p : {Protocol::kPostgres, Protocol::kMysql, Protocol::kHttp, Protocol::kTcp}) {
    if (s == protocolName(p)) {
      *out = p;
      return true;
    }
  }
  return false;
}

bool parseTlsMode(std::string_view s, TlsMode* out) {
  for (TlsMode t :
       {TlsMode::kDisable, TlsMode::kRequire, TlsMode::kVerifyCa, TlsMode::kVerifyFull}) {
    if (s == tlsModeName(t)) {
      *out = t;
      return true;
    }
  }
  return false;
}

bool parseRole(std::string_view s, Role* out) {
  for (Role r : {Role::kRead, Role::kWrite, Role::kAdmin}) {
    if (s == roleName(r)) {
      *out = r;
      return true;
    }
  }
  return false;
}

}  // namespace tollgate::policy
