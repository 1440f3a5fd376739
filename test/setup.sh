#!/usr/bin/env bash
# Installs what the tests use from Debian's packages, once.
set -euo pipefail
need=()
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need+=(busybox-static)
command -v runc >/dev/null || need+=(runc)
command -v crun >/dev/null || need+=(crun)
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v zstd >/dev/null || need+=(zstd)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl) # the build tests ask a loopback server, and berthd before a body is read
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v dockerd >/dev/null || need+=(docker.io)
command -v podman >/dev/null || need+=(podman)
command -v docker-compose >/dev/null || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  echo "test setup: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# A Debian minbase root filesystem for the image tests, made once with
# debootstrap from the machine's own Debian mirror and kept between runs.
DEBIAN_TAR=/var/cache/berth-test/debian-minbase.tar
if [ ! -s "$DEBIAN_TAR" ] && [ -s /tmp/anchors/tars/debian.tar ]; then
  # shared/bench/setup-anchors.sh made the same thing already
  mkdir -p "$(dirname "$DEBIAN_TAR")" && cp /tmp/anchors/tars/debian.tar "$DEBIAN_TAR.tmp" && mv "$DEBIAN_TAR.tmp" "$DEBIAN_TAR"
fi
if [ ! -s "$DEBIAN_TAR" ]; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  mirror=$(awk 'tolower($1)=="uris:" && $2 ~ /debian/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $2 ~ /debian/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  dir=$(mktemp -d /var/tmp/berth-debootstrap.XXXXXX)
  echo "test setup: debootstrap --variant=minbase bookworm from $mirror (once; cached in $DEBIAN_TAR)" >&2
  trap 'umount -R "$dir/proc" "$dir/sys" 2>/dev/null; rm -rf "$dir"' EXIT
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >/var/tmp/berth-debootstrap.log 2>&1
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/var/log/*
  mkdir -p "$(dirname "$DEBIAN_TAR")"
  tar --sort=name --numeric-owner --xattrs --xattrs-include='*' --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -C "$dir" -cf "$DEBIAN_TAR.tmp" . && mv "$DEBIAN_TAR.tmp" "$DEBIAN_TAR"
fi
