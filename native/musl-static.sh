#!/bin/sh
# Builds one of berth's resident programs (the supervisor, the container
# init) as a static musl binary: it maps only what it uses, about 0.2 MiB,
# where the same program maps 0.9 MiB static or 1.5 MiB dynamic with glibc.
#   musl-static.sh OUTPUT static|dynamic SOURCE...
# Without musl-gcc (Debian's musl-tools, installed here when root can), the
# program is linked with glibc as the second argument says, and a warning
# says so: it works the same and takes more memory.
set -eu
out=$1 fallback=$2
shift 2
flags="-O2 -Wall -Wextra -Wno-unused-parameter -std=gnu11 -D_GNU_SOURCE"
cc=$(command -v musl-gcc || true)
if [ -z "$cc" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "berth: installing musl-tools, to build $(basename "$out") static with musl" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq musl-tools || { apt-get update -qq && apt-get install -y -qq musl-tools; }; } >/dev/null 2>&1 || true
  cc=$(command -v musl-gcc || true)
fi
mkdir -p "$(dirname "$out")"
if [ -n "$cc" ]; then
  # shellcheck disable=SC2086
  exec "$cc" $flags -static -ffunction-sections -fdata-sections -Wl,--gc-sections -o "$out" "$@" -lpthread
fi
echo "berth: warning: no musl-gcc (apt-get install musl-tools); $(basename "$out") is linked $fallback with glibc and takes more memory" >&2
[ "$fallback" = static ] && link=-static || link=-static-libgcc
# shellcheck disable=SC2086
exec "${CC:-cc}" $flags $link -o "$out" "$@" -lpthread
