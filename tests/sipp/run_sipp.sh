#!/usr/bin/env bash
# Runs one sipp scenario against a freshly started chorus on a free loopback
# port, bounded in time, and checks that both sipp and chorus (stopped with
# SIGTERM) exit 0.
#   run_sipp.sh CHORUS SIPP SCENARIO.xml TRANSPORT(u1|t1) [SERVICE]
set -u
chorus=$1 sipp=$2 scenario=$3 transport=$4 service=${5:-room42}
work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-sipp.XXXXXX")
trap 'rm -rf "$work"' EXIT

source "$(dirname "$0")/common.sh"

focus_port=$(free_port)
client_port=$(free_port)
media_port=$(free_port)
start_chorus "$chorus" --sip "127.0.0.1:$focus_port" --rtp-ports 42000-42099 --slow-room-prefix slow-

(cd "$work" && timeout 60 "$sipp" -sf "$scenario" -t "$transport" -i 127.0.0.1 \
   -p "$client_port" -mp "$media_port" -s "$service" -m 1 -l 1 \
   -timeout 30s -timeout_error -recv_timeout 10000 -nostdin \
   -trace_msg -message_file "$work/messages.log" -trace_err -error_file "$work/errors.log" \
   "127.0.0.1:$focus_port" >"$work/sipp.out" 2>&1)
sipp_status=$?

stop_chorus

if [ "$sipp_status" -ne 0 ] || [ "$chorus_status" -ne 0 ]; then
  echo "sipp exit $sipp_status, chorus exit $chorus_status"
  echo "---- sipp errors"; cat "$work/errors.log" 2>/dev/null
  echo "---- sipp messages"; cat "$work/messages.log" 2>/dev/null
  echo "---- sipp output"; tail -30 "$work/sipp.out"
  echo "---- chorus"; cat "$work/chorus.log"
  exit 1
fi
echo "ok: $(basename "$scenario") over $transport"
