#!/usr/bin/env bash
# `chorus --check-config`: the shipped example passes (exit 0), a file with a
# bad setting fails (exit 1) naming the key, the value and what is allowed,
# and a bad flag fails too. The file is named either way:
# `--config FILE --check-config` or `--check-config FILE`.
#   check_config.sh CHORUS EXAMPLE_TOML
set -u
chorus=$1 example=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$chorus" --config "$example" --check-config >"$work/out" 2>&1 || fail "example rejected: $(cat "$work/out")"
grep -q "configuration OK ($example)" "$work/out" || fail "no OK line: $(cat "$work/out")"
"$chorus" --check-config "$example" >"$work/out" 2>&1 || fail "--check-config FILE: example rejected: $(cat "$work/out")"
grep -q "configuration OK ($example)" "$work/out" || fail "--check-config FILE: no OK line: $(cat "$work/out")"
"$chorus" --check-config >"$work/out" 2>&1 || fail "embedded default rejected: $(cat "$work/out")"
grep -q "configuration OK (<embedded>)" "$work/out" || fail "no OK line for the default: $(cat "$work/out")"

printf '[media]\nshards = 65\n[sip]\nlisen = "x"\n' >"$work/bad.toml"
for form in "--config $work/bad.toml --check-config" "--check-config $work/bad.toml"; do
  # shellcheck disable=SC2086  # the form is split into its words on purpose
  "$chorus" $form >"$work/out" 2>&1
  [ $? -eq 1 ] || fail "bad file not exit 1 ($form)"
  grep -q "bad.toml:2: media.shards = 65: allowed: an integer 0..64" "$work/out" || fail "$form: $(cat "$work/out")"
  grep -q "sip.lisen" "$work/out" || fail "unknown key not named ($form): $(cat "$work/out")"
done
"$chorus" --check-config "$work/missing.toml" >"$work/out" 2>&1
[ $? -eq 1 ] || fail "--check-config of a missing file not exit 1"
grep -q "missing.toml: cannot read" "$work/out" || fail "missing file not named: $(cat "$work/out")"

"$chorus" --check-config --shards 65 >"$work/out" 2>&1
[ $? -eq 1 ] || fail "bad flag with --check-config not exit 1"
# A bad file stops start-up too (not only --check-config), before binding.
timeout 10 "$chorus" --config "$work/bad.toml" --sip 127.0.0.1:1 >"$work/out" 2>&1
[ $? -eq 1 ] || fail "start-up with a bad file not exit 1: $(cat "$work/out")"
echo "ok"
