#!/usr/bin/env bash
# install-capi.sh PREFIX - builds libchunkvol.so (the C API, Spec/c-api.md) and installs
#   PREFIX/lib/libchunkvol.so  PREFIX/include/chunkvol.h  PREFIX/lib/pkgconfig/chunkvol.pc
# The library is self-contained: the Swift runtime and Foundation are linked in statically
# (-static-stdlib), and the version script Install/libchunkvol.map exports only the chunkvol_*
# functions, so a daemon needs no Swift toolchain at run time and no LD_LIBRARY_PATH: the .pc file
# puts PREFIX/lib in the program's rpath. Built in .build-capi so that the flags do not invalidate
# the ordinary .build.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${1:?usage: install-capi.sh PREFIX}
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)   # the rpath in the .pc file must be absolute
VERSION=0.1.0
if ! command -v swift-build >/dev/null && [ -x /opt/swift/usr/bin/swift-build ]; then
  PATH=$PATH:/opt/swift/usr/bin
fi
cd "$ROOT"
swift-build -c release --build-path .build-capi --product chunkvol \
  -Xswiftc -static-stdlib -Xswiftc -use-ld=lld \
  -Xlinker --version-script="$ROOT/Install/libchunkvol.map" -Xlinker -soname=libchunkvol.so
LIB=$(swift-build -c release --build-path .build-capi --show-bin-path)/libchunkvol.so

# Exactly the header's functions are exported; anything else is a build mistake.
want=$(sed -n 's/^\(chunkvol_[a-z_]*\)(.*/\1/p; s/^[a-z_ ]*[ *]\(chunkvol_[a-z_]*\)(.*/\1/p' Sources/CChunkvolHeader/chunkvol.h | sort -u)
got=$(nm -D --defined-only "$LIB" | awk '$2 ~ /^[A-Z]$/ && $3 != "CHUNKVOL_1" { sub(/@.*/, "", $3); print $3 }' | sort -u)
if [ "$want" != "$got" ]; then
  echo "install-capi: libchunkvol.so exports differ from chunkvol.h:" >&2
  diff <(echo "$want") <(echo "$got") >&2 || true
  exit 1
fi

install -d "$PREFIX/lib/pkgconfig" "$PREFIX/include"
install -m 0755 "$LIB" "$PREFIX/lib/libchunkvol.so"
# Debug info off (2 MB of 70): valgrind 3.19 (Debian 12) cannot read the toolchain's DWARF 5 and
# gives up on the library; the symbol table stays, so stacks still name functions.
strip --strip-debug "$PREFIX/lib/libchunkvol.so"
install -m 0644 Sources/CChunkvolHeader/chunkvol.h "$PREFIX/include/chunkvol.h"
sed -e "s|@PREFIX@|$PREFIX|" -e "s|@VERSION@|$VERSION|" Install/chunkvol.pc.in > "$PREFIX/lib/pkgconfig/chunkvol.pc"
chmod 0644 "$PREFIX/lib/pkgconfig/chunkvol.pc"
echo "installed libchunkvol $VERSION in $PREFIX: lib/libchunkvol.so ($(du -h "$PREFIX/lib/libchunkvol.so" | cut -f1)), include/chunkvol.h, lib/pkgconfig/chunkvol.pc"
