#!/bin/sh
# Prints the Debian packages holding the shared libraries BINARY... link against (used by the
# image builds so the runtime stage installs exactly what the binaries need).
set -eu
for bin in "$@"; do
  ldd "$bin" | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  # usrmerge: dpkg may record the library under /usr/lib or /lib.
  { dpkg -S "$lib" || dpkg -S "/usr$lib"; } 2>/dev/null | head -n1 | cut -d: -f1
done | sort -u
