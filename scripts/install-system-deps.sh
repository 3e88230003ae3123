#!/usr/bin/env bash
# Installs the real components the end-to-end tests use, from Debian's packages:
# prometheus (and promtool) and prometheus-pushgateway. Needs root and apt-get; elsewhere it
# says what is missing and the tests that need it skip (they fail under CI=true instead).
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || need+=(prometheus-pushgateway)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: ${need[*]} not installed (needs root and apt-get); tests that use them will skip" >&2
  exit 0
fi
# No daemon may start (it would listen on all interfaces); tests start their own on 127.0.0.1.
if [ ! -e /usr/sbin/policy-rc.d ] || ! grep -q 'exit 101' /usr/sbin/policy-rc.d; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends prometheus prometheus-pushgateway >/dev/null
# Belt and braces: stop anything the packages may have started anyway.
pkill -x prometheus 2>/dev/null || true
pkill -x prometheus-pushgateway 2>/dev/null || true
command -v prometheus >/dev/null && command -v promtool >/dev/null
