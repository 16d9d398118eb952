#!/usr/bin/env python3
"""chorus-load --webrtc against a real chorus (issue #18, "Capacity").

Starts chorus (per-member ports, the generated DTLS certificate, the admin
API for /metrics), runs chorus-load --webrtc for 7 seconds with 2 rooms
of 3 browser-like members (ICE check, DTLS 1.2 handshake, SRTP with RFC 6464
levels, Opus), and asserts: chorus-load passed its audio checks (each member
hears the other talkers of its room and never itself), every handshake keyed
on both sides (chorus_webrtc_dtls_handshakes_total{result="connected"} = 6,
no failures), consent checks were sent and answered, and the server saw valid STUN checks and no SRTP auth failures.

  webrtc_load_test.py CHORUS CHORUS_LOAD
"""

import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOMS, SIZE = 2, 3
TOKEN = "webrtc-load-test-token-of-32-chars"


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(port):
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port,
                                 headers={"Authorization": "Bearer " + TOKEN})
    text = urllib.request.urlopen(req, timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)(\{[^}]*\})?\s+(\S+)$", line)
        if m:
            key = m.group(1) + (m.group(2) or "")
            out[key] = out.get(key, 0.0) + float(m.group(3))
    return out


def main():
    chorus, load = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="chorus-webrtc-load-")
    sip, admin = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    rtp = random.randrange(20000, 39000) & ~1
    config = os.path.join(work, "chorus.toml")
    with open(config, "w") as f:
        f.write('[admin]\naddress = "127.0.0.1"\nport = %d\ntoken = "%s"\n' % (admin, TOKEN))
    log = open(os.path.join(work, "chorus.log"), "w")
    server = subprocess.Popen([chorus, "--sip", "127.0.0.1:%d" % sip, "--no-tcp", "--rtp-ports",
                               "%d-%d" % (rtp, rtp + 199), "--media-shards", "1", "--config",
                               config], stdout=log, stderr=subprocess.STDOUT)
    failures = []
    try:
        deadline = time.time() + 20
        while time.time() < deadline and server.poll() is None:
            if "listening" in open(log.name, errors="replace").read():
                break
            time.sleep(0.05)
        if server.poll() is not None:
            print(open(log.name).read()[-2000:])
            print("chorus exited")
            return 1
        out = subprocess.run(
            [load, "--target", "127.0.0.1:%d" % sip, "--rooms", str(ROOMS), "--participants",
             str(SIZE), "--codec", "opus", "--webrtc", "--duration", "6", "--verify",
             str(ROOMS * SIZE), "--json", "--no-progress"],
            capture_output=True, text=True, timeout=90)
        sys.stderr.write(out.stderr)
        summary = None
        for line in out.stdout.splitlines():
            if line.startswith("{") and '"passed"' in line:
                summary = json.loads(line)
        if summary is None:
            failures.append("chorus-load printed no summary (exit %d)" % out.returncode)
        else:
            if out.returncode != 0 or not summary["passed"]:
                failures.append("chorus-load: exit %d, %d/%d verified: %s" % (
                    out.returncode, summary["verified_passed"], summary["verified"],
                    summary["failures"]))
            w = summary.get("webrtc") or {}
            if w.get("keyed") != ROOMS * SIZE or w.get("failed") != 0:
                failures.append("chorus-load handshakes: %s" % w)
            # RFC 7675: a consent check per member every 5 s, each answered.
            if w.get("consent_checks", 0) < ROOMS * SIZE or \
                    w.get("consent_answered") != w.get("consent_checks"):
                failures.append("consent checks: %s" % w)
        m = metrics(admin)
        key = 'chorus_webrtc_dtls_handshakes_total{result="%s"}'
        if m.get(key % "connected") != ROOMS * SIZE:
            failures.append("server DTLS handshakes connected: %s" % m.get(key % "connected"))
        for result in ("failed", "fingerprint_mismatch", "timeout"):
            if m.get(key % result, 0) != 0:
                failures.append("server DTLS handshakes %s: %s" % (result, m.get(key % result)))
        stun_ok = sum(v for k, v in m.items()
                      if k.startswith("chorus_webrtc_stun_checks_total") and 'outcome="success"' in k)
        if stun_ok < ROOMS * SIZE:
            failures.append("server valid STUN checks: %s" % stun_ok)
        if m.get("chorus_srtp_auth_failures_total", 0) != 0:
            failures.append("SRTP auth failures: %s" % m.get("chorus_srtp_auth_failures_total"))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    for f in failures:
        print("FAILED:", f)
    print("%d passed, %d failed" % (0 if failures else 1, 1 if failures else 0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
