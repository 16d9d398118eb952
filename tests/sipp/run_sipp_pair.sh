#!/usr/bin/env bash
# Runs a sipp UAS (the party the focus calls) and a sipp UAC (who asks the
# focus to call it) against a freshly started chorus on free loopback ports,
# bounded in time; both sipp runs and chorus (stopped with SIGTERM, which
# BYEs the UAS) must exit 0.
#   run_sipp_pair.sh CHORUS SIPP UAS.xml UAC.xml [CHORUS_CONFIG]
# In the UAC scenario [field0] is the UAS's "127.0.0.1:port". A digest
# answer ([authentication]) names sip:moh@focus as its uri (sipp's default
# would be the focus's address alone, which is not the Request-URI).
set -u
chorus=$1 sipp=$2 uas=$3 uac=$4 config=${5:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-sipp.XXXXXX")
trap 'rm -rf "$work"' EXIT

source "$(dirname "$0")/common.sh"

focus_port=$(free_port)
uas_port=$(free_port)
uac_port=$(free_port)
uas_media=$(free_port)
uac_media=$(free_port)
args=(--sip "127.0.0.1:$focus_port" --rtp-ports 42100-42199)
[ -n "$config" ] && args=(--config "$config" "${args[@]}")
start_chorus "$chorus" "${args[@]}"

printf 'SEQUENTIAL\n127.0.0.1:%s;\n' "$uas_port" >"$work/uas.csv"
(cd "$work" && timeout 60 "$sipp" -sf "$uas" -t u1 -i 127.0.0.1 -p "$uas_port" \
   -mp "$uas_media" -rtp_echo -m 1 -timeout 40s -timeout_error -nostdin \
   -trace_msg -message_file "$work/uas.messages" -trace_err -error_file "$work/uas.errors" \
   >"$work/uas.out" 2>&1) &
uas_pid=$!
sleep 0.3
(cd "$work" && timeout 60 "$sipp" -sf "$uac" -t u1 -i 127.0.0.1 -p "$uac_port" \
   -mp "$uac_media" -inf "$work/uas.csv" -m 1 -l 1 -timeout 30s -timeout_error \
   -recv_timeout 10000 -nostdin -auth_uri "moh@127.0.0.1:$focus_port" \
   -trace_msg -message_file "$work/uac.messages" -trace_err -error_file "$work/uac.errors" \
   "127.0.0.1:$focus_port" >"$work/uac.out" 2>&1)
uac_status=$?

# The UAS's call is up; stopping chorus sends it the BYE that ends it.
sleep 1
stop_chorus
wait "$uas_pid"
uas_status=$?

if [ "$uac_status" -ne 0 ] || [ "$uas_status" -ne 0 ] || [ "$chorus_status" -ne 0 ]; then
  echo "uac exit $uac_status, uas exit $uas_status, chorus exit $chorus_status"
  for f in uac.errors uac.messages uas.errors uas.messages; do
    echo "---- $f"; cat "$work/$f" 2>/dev/null
  done
  echo "---- uac output"; tail -20 "$work/uac.out"
  echo "---- uas output"; tail -20 "$work/uas.out"
  echo "---- chorus"; cat "$work/chorus.log"
  exit 1
fi
echo "ok: $(basename "$uac") calling $(basename "$uas")"
