#!/usr/bin/env bash
# The README's first command, for real: `deploy/run` sets up, builds the
# Release chorus and runs it on the embedded default configuration. Checks
# that it starts, answers a SIP OPTIONS over UDP with 200, and exits 0 on
# SIGTERM. Every wait is bounded.
#   check_run.sh [--expect-no-op-build] [TOP]
# --expect-no-op-build: fail unless the build step had nothing to do (deploy/test
# passes it: its Release step has just built the same tree).
# When 127.0.0.1:5060 (UDP or TCP) is taken by something else, chorus is told
# another free port with --sip (deploy/run passes its arguments on); the rest
# of the configuration is still the embedded default.
# Environment: CHORUS_RUN_START_SECONDS bounds set-up + build + start (300).
set -u
expect_no_op=0
if [ "${1:-}" = "--expect-no-op-build" ]; then expect_no_op=1; shift; fi
top=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
start_seconds=${CHORUS_RUN_START_SECONDS:-300}
work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-run.XXXXXX")
pid=""
cleanup() {
  # deploy/run runs in its own process group (set -m below): end all of it.
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null
    sleep 1
    kill -KILL -- "-$pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT  # so that a timeout still runs the cleanup
fail() { echo "FAIL: $*"; echo "--- deploy/run output"; tail -40 "$work/run.log"; exit 1; }

# 0 when 127.0.0.1:PORT is free for both UDP and TCP.
port_free() {
  python3 - "$1" <<'PY'
import socket, sys
port = int(sys.argv[1])
for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
PY
}
# A port free for UDP and TCP, outside the default RTP range 40000-40999.
free_port() {
  python3 - <<'PY'
import socket
for _ in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    if 40000 <= port <= 40999:
        u.close()
        continue
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", port))
    except OSError:
        u.close()
        continue
    t.close(); u.close()
    print(port)
    break
PY
}

port=5060
args=()
if ! port_free 5060; then
  port=$(free_port)
  args=(--sip "127.0.0.1:$port")
  echo "note: 127.0.0.1:5060 is in use here; running deploy/run ${args[*]}"
fi

# Its own process group, so a timeout can end deploy/run and its build.
set -m
"$top/deploy/run" "${args[@]}" >"$work/run.log" 2>&1 &
pid=$!
set +m

started=0
for _ in $(seq 1 $((start_seconds * 10))); do
  if grep -q "dial sip:" "$work/run.log" 2>/dev/null; then started=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ $started -eq 1 ] || fail "deploy/run did not start chorus within ${start_seconds}s"
if [ $expect_no_op -eq 1 ]; then
  grep -q "ninja: no work to do" "$work/run.log" || fail "the build step was not a no-op"
fi
grep -q "chorus: SIP listening on UDP 127.0.0.1:$port" "$work/run.log" || fail "not listening on 127.0.0.1:$port"
# The banner once (stdout and the stderr log land in the same terminal).
[ "$(grep -c "SIP listening on UDP 127.0.0.1:$port" "$work/run.log")" -eq 1 ] || fail "banner not printed exactly once"
# deploy/run execs chorus: the process we started is chorus now.
[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "chorus" ] || fail "deploy/run did not exec chorus"

python3 - "$port" >"$work/options.out" 2>&1 <<'PY' || fail "OPTIONS: $(cat "$work/options.out")"
import socket, sys, time
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
me = s.getsockname()[1]
msg = (
    f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
    f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-run-{me}-{int(time.time())}\r\n"
    "Max-Forwards: 70\r\n"
    f"From: <sip:check@127.0.0.1>;tag=run{me}\r\n"
    f"To: <sip:127.0.0.1:{port}>\r\n"
    f"Call-ID: check-run-{me}@127.0.0.1\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Accept: application/sdp\r\n"
    "Content-Length: 0\r\n\r\n"
).encode()
deadline = time.monotonic() + 5
s.settimeout(0.5)
while time.monotonic() < deadline:
    s.sendto(msg, ("127.0.0.1", port))  # resent every 500 ms, like timer E
    try:
        data, _ = s.recvfrom(65535)
    except socket.timeout:
        continue
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    if line.startswith("SIP/2.0 1"):
        continue
    print(line)
    sys.exit(0 if line.startswith("SIP/2.0 200") else 1)
print("no answer within 5 s")
sys.exit(1)
PY

kill -TERM "$pid"
status=""
for _ in $(seq 1 100); do
  if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; status=$?; break; fi
  sleep 0.1
done
[ -n "$status" ] || fail "chorus did not exit within 10 s of SIGTERM"
pid=""
[ "$status" -eq 0 ] || fail "exit status $status after SIGTERM"
grep -q "shutting down" "$work/run.log" || fail "no shutdown line"
echo "ok: deploy/run ${args[*]:-(embedded default)} answered OPTIONS with $(cat "$work/options.out") and exited 0 on SIGTERM"
