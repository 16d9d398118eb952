#!/bin/sh
# Installs playwright-core (pinned) into a cache directory of the build tree
# once, then runs the console browser test. No network and no cache: the
# test FAILS (it does not skip) and says which step deploy/setup needs.
#   run_browser_test.sh <server exe> <cache dir> <test .mjs> [more args]
set -u
fixture=$1
cache=$2
script=$3
shift 3
version=1.49.1
if [ ! -f "$cache/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$cache"
  if ! npm install --prefix "$cache" --no-audit --no-fund --loglevel=error \
      "playwright-core@$version" >"$cache/npm-install.log" 2>&1; then
    cat "$cache/npm-install.log"
    echo "FAIL: npm could not install playwright-core@$version into $cache."
    echo "deploy/setup needs: npm install --prefix <build>/tests/admin/node playwright-core@$version"
    exit 1
  fi
fi
if ! command -v chromium >/dev/null 2>&1 && [ -z "${CHROMIUM:-}" ]; then
  echo "FAIL: no chromium (Debian package 'chromium', installed by deploy/setup)"
  exit 1
fi
exec node "$script" "$cache" "$fixture" "$@"
