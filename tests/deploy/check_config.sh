#!/usr/bin/env bash
# `chorus --check-config`: the shipped example passes (exit 0), a file with a
# bad setting fails (exit 1) naming the key, the value and what is allowed,
# and a bad flag fails too.
#   check_config.sh CHORUS EXAMPLE_TOML
set -u
chorus=$1 example=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$chorus" --config "$example" --check-config >"$work/out" 2>&1 || fail "example rejected: $(cat "$work/out")"
grep -q "configuration OK ($example)" "$work/out" || fail "no OK line: $(cat "$work/out")"
"$chorus" --check-config >"$work/out" 2>&1 || fail "embedded default rejected: $(cat "$work/out")"

printf '[media]\nshards = 0\n[sip]\nlisen = "x"\n' >"$work/bad.toml"
"$chorus" --config "$work/bad.toml" --check-config >"$work/out" 2>&1
[ $? -eq 1 ] || fail "bad file not exit 1"
grep -q "bad.toml:2: media.shards = 0: allowed: an integer 1..64" "$work/out" || fail "$(cat "$work/out")"
grep -q "sip.lisen" "$work/out" || fail "unknown key not named: $(cat "$work/out")"

"$chorus" --check-config --shards 0 >"$work/out" 2>&1
[ $? -eq 1 ] || fail "bad flag with --check-config not exit 1"
# A bad file stops start-up too (not only --check-config), before binding.
timeout 10 "$chorus" --config "$work/bad.toml" --sip 127.0.0.1:1 >"$work/out" 2>&1
[ $? -eq 1 ] || fail "start-up with a bad file not exit 1: $(cat "$work/out")"
echo "ok"
