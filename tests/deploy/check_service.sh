#!/usr/bin/env bash
# Verifies deploy/chorus.service with `systemd-analyze verify`, pointing its
# ExecStart at the built binary (the unit names /usr/local/bin/chorus). Exit
# 77 (skipped) when systemd-analyze is missing.
#   check_service.sh UNIT CHORUS_BINARY
set -u
unit=$1 chorus=$2
analyze=$(command -v systemd-analyze) || { echo "systemd-analyze not found: skipped"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-unit.XXXXXX")
trap 'rm -rf "$work"' EXIT
sed "s|/usr/local/bin/chorus|$chorus|g" "$unit" >"$work/chorus.service"
# --man=no: no man pages are installed in CI images, which is not our problem.
if ! "$analyze" verify --man=no "$work/chorus.service" >"$work/out" 2>&1; then
  echo "systemd-analyze verify failed:"; cat "$work/out"; exit 1
fi
# verify exits 0 on some warnings (unknown directives): treat any output
# naming our unit as a failure.
if grep -q "chorus.service" "$work/out"; then
  echo "systemd-analyze verify complained:"; cat "$work/out"; exit 1
fi
for directive in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
                 RestrictAddressFamilies= CapabilityBoundingSet= "ExecReload=/bin/kill -HUP"; do
  grep -q "^$directive" "$unit" || { echo "unit lacks $directive"; exit 1; }
done
echo "ok"
