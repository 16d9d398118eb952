# Shared by the sipp runners: free loopback ports and a chorus to test.
# Source it; it uses $work (a scratch directory) and sets $chorus_pid.

# A port free for both UDP and TCP on 127.0.0.1.
free_port() {
  python3 - <<'PY'
import socket
for _ in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
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

# start_chorus BINARY ARGS...: runs it with its log in $work/chorus.log and
# waits (at most 10 s) for the banner; exits the script if chorus dies.
start_chorus() {
  "$@" >"$work/chorus.log" 2>&1 &
  chorus_pid=$!
  for _ in $(seq 1 100); do
    grep -q "dial sip:" "$work/chorus.log" 2>/dev/null && return 0
    if ! kill -0 "$chorus_pid" 2>/dev/null; then
      echo "chorus exited early:"; cat "$work/chorus.log"; exit 1
    fi
    sleep 0.1
  done
}

# stop_chorus: SIGTERM, then waits up to 10 s; sets $chorus_status (its exit
# code, 1 if it had to be killed).
stop_chorus() {
  kill -TERM "$chorus_pid" 2>/dev/null
  chorus_status=1
  for _ in $(seq 1 100); do
    if ! kill -0 "$chorus_pid" 2>/dev/null; then wait "$chorus_pid"; chorus_status=$?; return; fi
    sleep 0.1
  done
  echo "chorus did not stop on SIGTERM"; kill -KILL "$chorus_pid"; chorus_status=1
}
