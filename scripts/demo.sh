#!/usr/bin/env bash
# A container from an image, from nothing: packages, build, a busybox image
# imported from Debian's busybox-static, then `berth run` (which starts berthd).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need+=(busybox-static)
command -v nft >/dev/null || need+=(nftables) # the default bridge network's NAT and published ports
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x build/Release/berth-shim ] && [ -f dist/berth.cjs ] || npm install --no-audit --no-fund
if ! bin/berth images -q berth-demo/busybox:latest | grep -q .; then
  root=$(mktemp -d /tmp/berth-demo.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  node dist/test/helpers/make-bundle.js "$root/b" true >/dev/null
  tar -C "$root/b/rootfs" -cf "$root/rootfs.tar" .
  bin/berth import -c 'CMD ["sh"]' "$root/rootfs.tar" berth-demo/busybox:latest >/dev/null
fi
bin/berth run --rm --name "berth-demo-$$" -m 64m berth-demo/busybox sh -c \
  'echo "hello from PID $$ in container $(hostname)"; ps -ef; cat /proc/self/cgroup | head -3'
