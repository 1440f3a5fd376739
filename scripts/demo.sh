#!/usr/bin/env bash
# Runs a container from nothing: packages, build, a busybox bundle, berth-runtime run.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi
[ -x build/Release/berth-exec ] && [ -d dist ] || npm install --no-audit --no-fund
bundle=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
node dist/test/helpers/make-bundle.js "$bundle" sh -c 'echo "hello from PID $$ in $(hostname)"; ps; ls /'
# not exec: the trap must still remove the bundle afterwards
bin/berth-runtime --root "$bundle/state" run -b "$bundle" "demo-$$"
