#!/usr/bin/env bash
# tollgate-sidecar is linked with Debian's static archives (cmake/StaticDeps.cmake): the only
# shared libraries it may load are the C/C++ runtime, prometheus-cpp (Debian ships no archive)
# and a sanitizer runtime. A library target that names a dependency directly instead of through
# tollgate_shared_deps() makes the linker record the shared copy too, and the sidecar then runs
# on it: libcrypto.so.3 that way cost 3.8 MiB of idle RSS.
set -euo pipefail
bin="${1:?usage: static_link_test.sh PATH-TO-tollgate-sidecar}"
command -v readelf > /dev/null || { echo "SKIP: readelf (binutils) is not installed"; exit 77; }
# The C runtime (the dynamic loader of any architecture; libpthread, libdl and librt before
# glibc 2.34 merged them), the compiler runtime (libgcc_s, libatomic), libstdc++, prometheus-cpp,
# sanitizer runtimes.
allowed='^(ld-linux[-a-z0-9_]*\.so\.[0-9]+|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libgcc_s\.so\.1|libatomic\.so\.1|libstdc\+\+\.so\.6|libprometheus-cpp-core\.so\.[0-9.]+|lib(a|ub|t|l)san\.so\.[0-9]+)$'
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] || { echo "no NEEDED entries read from $bin" >&2; exit 1; }
bad=$(grep -Ev "$allowed" <<<"$needed" || true)
if [ -n "$bad" ]; then
  echo "tollgate-sidecar loads shared libraries it should link statically:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "NEEDED: $(tr '\n' ' ' <<<"$needed")"
