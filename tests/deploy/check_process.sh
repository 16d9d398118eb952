#!/usr/bin/env bash
# `chorus` as a process: SIGHUP reloads rooms from the file (and a broken file
# is refused, keeping the running configuration), SIGTERM exits 0, the log
# level and log file come from the file, the start-up banner is printed once
# (log on stderr or in a file), and (when run as root) the root policy: refuse
# with allow_root = false, switch to process.user after binding.
#   check_process.sh CHORUS
set -u
chorus=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-process.XXXXXX")
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() {  # FILE TEXT PID
  for _ in $(seq 1 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

port=$(free_port)
cat >"$work/chorus.toml" <<TOML
[sip]
listen = "127.0.0.1:$port"
[media]
rtp_ports = "44000-44099"
[log]
level = "info"
file = "$work/file.log"
TOML
"$chorus" --config "$work/chorus.toml" >"$work/stdout.log" 2>&1 &
pid=$!; pids+=($pid)
wait_for "$work/stdout.log" "dial sip:" $pid || fail "chorus did not start"
wait_for "$work/file.log" "configuration $work/chorus.toml" $pid || fail "no start-up summary in the log file"

# The banner once on stdout (+ stderr), and once in the log file.
banner_once() {  # FILE PORT
  local what
  for what in "SIP listening on UDP 127.0.0.1:$2" "SIP listening on TCP 127.0.0.1:$2" "dial sip:"; do
    [ "$(grep -cF "$what" "$1")" -eq 1 ] || fail "'$what' $(grep -cF "$what" "$1") times in $1, want 1"
  done
}
banner_once "$work/stdout.log" "$port"
[ "$(grep -cF "SIP listening on UDP 127.0.0.1:$port" "$work/file.log")" -eq 1 ] ||
  fail "the log file does not hold the banner line exactly once"

# A reload with two rooms.
printf '[[room]]\nname = "board"\npin = "1234"\n[[room]]\nname = "open"\n' >>"$work/chorus.toml"
kill -HUP $pid
wait_for "$work/file.log" "2 listed room(s)" $pid || fail "SIGHUP did not reload the rooms"
# A broken file is refused; chorus keeps running.
printf '[admin]\nport = 70000\n' >>"$work/chorus.toml"
kill -HUP $pid
wait_for "$work/file.log" "reload failed, keeping the running configuration" $pid || fail "bad reload not refused"
grep -q "admin.port = 70000" "$work/file.log" || fail "bad reload does not name the key"
kill -0 $pid || fail "chorus died on a bad reload"
kill -TERM $pid
wait $pid; status=$?
[ $status -eq 0 ] || fail "SIGTERM exit status $status"
grep -q "shutting down" "$work/file.log" || fail "no shutdown line in the log"

# The default log (stderr) and stdout together, as a terminal or the journal
# shows them: the banner once.
port=$(free_port)
"$chorus" --sip "127.0.0.1:$port" --rtp-ports 44100-44199 >"$work/terminal.log" 2>&1 &
pid=$!; pids+=($pid)
wait_for "$work/terminal.log" "dial sip:" $pid || fail "chorus (log on stderr) did not start"
banner_once "$work/terminal.log" "$port"
grep -q "info configuration <embedded>" "$work/terminal.log" || fail "no summary line on stderr"
kill -TERM $pid
wait $pid || fail "chorus (log on stderr) did not exit 0"

if [ "$(id -u)" = 0 ]; then
  port=$(free_port)
  printf '[sip]\nlisten = "127.0.0.1:%s"\n[process]\nallow_root = false\n' "$port" >"$work/noroot.toml"
  "$chorus" --config "$work/noroot.toml" >"$work/noroot.log" 2>&1
  [ $? -eq 1 ] || fail "root not refused with allow_root = false"
  grep -q "refusing to run as root" "$work/noroot.log" || fail "no refusal message"

  if id nobody >/dev/null 2>&1; then
    port=$(free_port)
    printf '[sip]\nlisten = "127.0.0.1:%s"\n[media]\nrtp_ports = "44200-44299"\n[process]\nallow_root = false\nuser = "nobody"\n' \
      "$port" >"$work/drop.toml"
    "$chorus" --config "$work/drop.toml" >"$work/drop.log" 2>&1 &
    pid=$!; pids+=($pid)
    wait_for "$work/drop.log" "dial sip:" $pid || fail "chorus with process.user did not start"
    uid=$(awk '/^Uid:/ {print $2 $3 $4 $5}' /proc/$pid/status)
    want=$(id -u nobody)
    [ "$uid" = "$want$want$want$want" ] || fail "uids after the switch: $uid, want $want"
    kill -TERM $pid
    wait $pid || fail "chorus as nobody did not exit 0"
  fi
fi
echo ok
