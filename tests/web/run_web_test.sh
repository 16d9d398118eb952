#!/bin/sh
# Checks what the web page tests need beyond the console test's pieces (the
# JsSIP bundle of deploy/setup-web, openssl, sox), then runs the test through
# tests/admin/run_browser_test.sh (playwright-core, chromium). Anything
# missing FAILS the test (it never skips) and names the step that installs it.
#   run_web_test.sh <assets dir> <chorus> <node cache> <test .mjs> [more args]
set -u
assets=$1
shift
if [ ! -s "$assets/jssip.min.js" ]; then
  echo "FAIL: no JsSIP bundle at $assets/jssip.min.js: run deploy/setup (it runs deploy/setup-web)"
  exit 1
fi
for tool in openssl sox; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: no $tool (Debian package installed by deploy/setup)"
    exit 1
  fi
done
exec "$(dirname "$0")/../admin/run_browser_test.sh" "$@"
