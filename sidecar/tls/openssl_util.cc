// Error-queue and PEM helpers shared by the TLS layer.
#include "sidecar/tls/openssl_util.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace tollgate::sidecar::tls {

std::string takeOpenSslErrors(const std::string& fallback) {
  std::string out;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    const char* reason = ERR_reason_error_string(code);
    std::string text;
    if (reason != nullptr) {
      text = reason;
    } else {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof(buf));
      text = buf;
    }
    if (out.find(text) != std::string::npos) continue;  // OpenSSL often repeats a reason.
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? fallback : out;
}

absl::Status regularFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError("cannot open " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(path + " is not a regular file");
  return absl::OkStatus();
}

namespace {

absl::StatusOr<BioPtr> openFile(const std::string& path) {
  if (auto st = regularFile(path); !st.ok()) return st;
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    ERR_clear_error();
    return absl::NotFoundError("cannot open " + path);
  }
  return bio;
}

}  // namespace

absl::StatusOr<X509Ptr> readCertificateFile(const std::string& path) {
  auto bio = openFile(path);
  if (!bio.ok()) return bio.status();
  X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return absl::InvalidArgumentError("no PEM certificate in " + path + ": " + takeOpenSslErrors());
  }
  return cert;
}

absl::StatusOr<PkeyPtr> readPrivateKeyFile(const std::string& path) {
  auto bio = openFile(path);
  if (!bio.ok()) return bio.status();
  PkeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr));
  if (!key) {
    return absl::InvalidArgumentError("no PEM private key in " + path + ": " + takeOpenSslErrors());
  }
  return key;
}

std::string subjectOneLine(const X509* cert) {
  if (cert == nullptr) return "";
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len > 0 ? static_cast<size_t>(len) : 0);
}

}  // namespace tollgate::sidecar::tls
