#!/bin/sh
# Installs Debian's Chromium for the GraphiQL browser test (test/server/graphiql.test.ts) unless it is
# already there. Paste into .ci/run, or call it: scripts/ensure-chromium.sh. Needs root (or sudo).
set -eu
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  echo "chromium: using $CHROMIUM"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
