#!/usr/bin/env python3
"""INVITE robustness run against a real chorus on loopback, in the shape of
the large third-party SIP robustness suites: thousands of INVITEs whose
fields overflow, go missing, repeat or are malformed (request line, each
header, the SDP body, stray bytes), each followed by a valid INVITE that must
still be answered.

    robustness_test.py CHORUS [--cases N] [--lanes L] [--seed S]
                              [--first-ms 200] [--final-ms 2000]

Cases are generated here (deterministic for a seed, at least 4,000). L lanes
run in parallel, each in its own room from its own socket; a lane sends one
case, then the valid INVITE, and waits for that INVITE's answer before the
next case. Checked:
  - every valid INVITE gets its first response within 200 ms and its 200 OK
    within 2 s (then ACK and BYE);
  - a case whose fault the parser names gets 400/505 with a reason phrase
    naming it (e.g. "Missing Call-ID", "Bad CSeq");
  - a case nobody can be answered (no usable Via) gets no answer, and the
    drops are counted (chorus_sip_malformed_total{outcome="dropped"});
  - a well-formed message with a broken body gets a final answer;
  - chorus is alive at the end and every call is gone.
Bounded: the whole run stops itself after CHORUS_ROBUSTNESS_SECONDS (170).
The suite runs it on the ASan+UBSan build with the latency bounds relaxed
(--first-ms 1000 --final-ms 3000: sanitizers, a shared machine), and
deploy/test again on the Release build with the bounds above.
"""
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HOST = "127.0.0.1"
LIMIT = float(os.environ.get("CHORUS_ROBUSTNESS_SECONDS", "170"))
FIRST_ANSWER = 0.200  # --first-ms
FINAL_ANSWER = 2.0    # --final-ms
START = time.monotonic()


def remaining():
    return LIMIT - (time.monotonic() - START)


def free_port(kind=socket.SOCK_DGRAM):
    for _ in range(100):
        s = socket.socket(socket.AF_INET, kind)
        s.bind((HOST, 0))
        port = s.getsockname()[1]
        s.close()
        if not 40000 <= port <= 41999:
            return port
    raise RuntimeError("no free port")


# ---------------------------------------------------------------- messages

SDP = ("v=0\r\no=robust 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio {rtp} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
       "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n")


class Invite:
    """An INVITE as editable parts: request line, ordered headers, body."""

    def __init__(self, room, port, sip_port, rtp, call_id, branch, tag):
        self.method = "INVITE"
        self.uri = f"sip:{room}@{HOST}:{sip_port}"
        self.version = "SIP/2.0"
        self.headers = [
            ["Via", f"SIP/2.0/UDP {HOST}:{port};branch={branch};rport"],
            ["Max-Forwards", "70"],
            ["From", f"\"Robust\" <sip:robust@{HOST}>;tag={tag}"],
            ["To", f"<sip:{room}@{HOST}>"],
            ["Call-ID", call_id],
            ["CSeq", "1 INVITE"],
            ["Contact", f"<sip:robust@{HOST}:{port}>"],
            ["Content-Type", "application/sdp"],
            ["Content-Length", None],  # None: the body's length
        ]
        self.body = SDP.format(rtp=rtp)
        self.raw_tail = ""  # bytes appended after the body (stray input)

    def wire(self):
        body = self.body.encode("latin-1") if isinstance(self.body, str) else self.body
        lines = [f"{self.method} {self.uri} {self.version}"]
        for name, value in self.headers:
            if value is None:
                value = str(len(body))
            lines.append(f"{name}: {value}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + body + self.raw_tail.encode("latin-1")


# Fields and what the parser says when each is missing / repeated / broken
# (signaling/message/message.cpp). None: no single right answer (still
# checked: the next valid INVITE is answered, malformed replies are 4xx/5xx).
MISSING = {"Via": "drop", "From": "Missing From", "To": "Missing To",
           "Call-ID": "Missing Call-ID", "CSeq": "Missing CSeq",
           "Max-Forwards": None, "Contact": None, "Content-Type": None,
           "Content-Length": None}
REPEATED = {"Via": None, "From": "Multiple From", "To": "Multiple To",
            "Call-ID": "Multiple Call-ID", "CSeq": "Multiple CSeq",
            "Max-Forwards": "Multiple Max-Forwards", "Contact": None,
            "Content-Type": "Multiple Content-Type", "Content-Length": "Content-Length"}
MALFORMED = {
    "CSeq": (["", "INVITE", "1", "abc INVITE", "-1 INVITE", "4294967296 INVITE",
              "1 INVITE extra", "1.5 INVITE", "0x10 INVITE", "1 INV\x01TE", "1  "], "CSeq"),
    "Max-Forwards": (["", "-1", "256", "abc", "99999999999999999999", "7 0", "0x46",
                      "70.0"], "Max-Forwards"),
    "Content-Length": (["-1", "abc", "99999", "1 1", "4294967296", "+5", "0x10"],
                       "Content-Length"),
    "Call-ID": (["", "a b", "\x01\x02", "a\tb", "\"\x7f\""], "Call-ID"),
    "From": (["", "<", "<sip:robust@127.0.0.1", "\"open <sip:a@b>;tag=1",
              "<sip:a@b>>;tag=x", "<<sip:a@b>>", ";tag=1"], "From"),
    "To": (["", "<", "<sip:a@b", "\"open <sip:a@b>", "<<sip:a@b>>", ";;;"], "To"),
    "Via": (["", "SIP/2.0/UDP", "garbage", "SIP/2.0/UDP :", "SIP/2.0/UDP host:99999",
             "SIP/2.0 UDP host", "/////"], "drop"),
    "Contact": (["<", "<sip:a@b", "<<sip:a@b>>", "\"x"], "Contact"),
}
OVERFLOW_LENGTHS = [64, 255, 256, 1024, 4096, 16384, 60000]
OVERFLOW_FILL = ["a", "%", "9", "\"", "<", ";", "@", ":", "%s%n", "\\", "=", ".", "\t", "\x80",
                 "\xff", "%00", ",", "A=B;"]


def overflow(length, fill):
    return (fill * (length // len(fill) + 1))[:length]


NUMERIC = ("CSeq", "Max-Forwards", "Content-Length")


def overflow_expect(field, fill, appended):
    """A numeric field overwritten with (or followed by) anything but
    whitespace no longer parses, and the 400 names it."""
    if field in NUMERIC and fill.strip():
        return field
    return None


def sdp_mutations(rng):
    """Well-formed SIP, broken SDP: a final answer is due."""
    lines = SDP.format(rtp=9).split("\r\n")[:-1]
    out = []
    for i in range(len(lines)):
        out.append("\r\n".join(lines[:i] + lines[i + 1:]) + "\r\n")  # a line missing
        out.append("\r\n".join(lines[:i + 1] + [lines[i]] + lines[i + 1:]) + "\r\n")  # repeated
        for length in (256, 4096, 30000):
            mutated = list(lines)
            mutated[i] = lines[i][:2] + overflow(length, rng.choice(OVERFLOW_FILL))
            out.append("\r\n".join(mutated) + "\r\n")
        for junk in ("", "=", "x", "\x00", lines[i][:2] + "\x00\x00"):
            mutated = list(lines)
            mutated[i] = junk
            out.append("\r\n".join(mutated) + "\r\n")
    for bad in ("m=audio 99999 RTP/AVP 0", "m=audio -1 RTP/AVP 0", "m=audio 9 RTP/AVP 999",
                "m=audio 9 RTP/AVP", "m=audio 9", "m=video 9 RTP/AVP 31", "c=IN IP4 999.1.1.1",
                "c=IN IP6 ::::::", "a=rtpmap:0 PCMU/0", "a=rtpmap:0 /8000", "a=fmtp:101 " + "1-" * 500,
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + "A" * 400, "a=rtcp:99999",
                "a=ptime:0", "a=ptime:99999999999", "o=- - - - - -", "t=a b"):
        out.append("\r\n".join(lines + [bad]) + "\r\n")
    out.append("\r\n".join(lines + ["m=audio 9 RTP/AVP 0"] * 100) + "\r\n")
    out.append("\r\n".join(lines + ["a=sendrecv"] * 1000) + "\r\n")
    out.append("")
    out.append("\x00" * 300)
    out.append(overflow(60000, "v=0\r\n"))
    return out


def make_cases(count, seed):
    """(name, mutate(invite), expect) tuples; expect is a reason keyword,
    "drop", "final" or None."""
    rng = random.Random(seed)
    cases = []
    fields = [h for h, _ in Invite("r", 1, 1, 1, "c", "b", "t").headers]
    for field in fields:
        cases.append((f"missing {field}", ("missing", field), MISSING[field]))
        for times in (2, 3, 10, 100):
            cases.append((f"{field} x{times}", ("repeat", field, times), REPEATED[field]))
        for length in OVERFLOW_LENGTHS:
            for fill in OVERFLOW_FILL:
                cases.append((f"{field} overflow {length}x{fill!r}", ("overflow", field, length, fill),
                              overflow_expect(field, fill, False)))
                cases.append((f"{field} append {length}x{fill!r}", ("append", field, length, fill),
                              overflow_expect(field, fill, True)))
    for field, (values, expect) in MALFORMED.items():
        for value in values:
            cases.append((f"{field} = {value[:20]!r}", ("set", field, value), expect))
    # Request line.
    for version, expect in (("SIP/1.0", "Version"), ("SIP/3.0", "Version"), ("SIP/2.0 ", "Request-Line"),
                            ("sip/2.0", "Version"), ("SIP/2", "Version"), ("HTTP/1.1", "Request-Line"),
                            ("", "Request-Line")):
        cases.append((f"version {version!r}", ("version", version), expect))
    for uri, expect in (("sip:", "Request-URI"), ("<sip:a@b>", "Request-URI"),
                        ("sip:a@b?Subject=x", "Request-URI"), ("sip:@", "Request-URI"),
                        ("sip:a@[::1", "Request-URI"), ("sip:a@b:99999", "Request-URI"),
                        ("sip:a@b;;;;", None), ("tel:", None), ("http://x", None), ("x", None)):
        cases.append((f"uri {uri!r}", ("uri", uri), expect))
    for length in OVERFLOW_LENGTHS:
        for fill in OVERFLOW_FILL:
            cases.append((f"uri user overflow {length}", ("uri_user", length, fill), None))
            if length <= 30000:  # the method also stands in CSeq: twice the length
                cases.append((f"method overflow {length}", ("method", overflow(length, fill)),
                              None))
    # Body.
    for i, body in enumerate(sdp_mutations(rng)):
        cases.append((f"sdp mutation {i}", ("body", body), "final"))
    # Stray bytes anywhere in the header block: random positions, seeded.
    junk = ["\x00", "\r", "\n", "\r\n\r\n", "\t", " ", "\x7f", "\xff", ":", "\r\n ", "\r\nX"]
    while len(cases) < count:
        kind = rng.randrange(4)
        if kind == 0:
            cases.append(("stray byte", ("stray", rng.randrange(1 << 30), rng.choice(junk)), None))
        elif kind == 1:
            field = rng.choice(fields)
            value = "".join(chr(rng.randrange(1, 256)) for _ in range(rng.choice((1, 8, 64, 512))))
            cases.append((f"{field} random", ("set", field, value), None))
        elif kind == 2:
            field = rng.choice(fields)
            cases.append((f"{field} x{rng.randrange(2, 60)} shuffled",
                          ("repeat_shuffle", field, rng.randrange(2, 60), rng.randrange(1 << 30)),
                          REPEATED[field] if field not in ("Via", "Contact") else None))
        else:
            cases.append(("header name garbage", ("header_name", rng.randrange(1 << 30)), None))
    return cases


def apply(case, invite):
    op = case[1]
    kind = op[0]
    def find(field):
        return [h for h in invite.headers if h[0] == field]
    if kind == "missing":
        invite.headers = [h for h in invite.headers if h[0] != op[1]]
    elif kind == "repeat":
        header = find(op[1])[0]
        at = invite.headers.index(header)
        value = header[1]
        invite.headers[at + 1:at + 1] = [[op[1], value] for _ in range(op[2] - 1)]
    elif kind == "repeat_shuffle":
        header = find(op[1])[0]
        extra = [[op[1], header[1]] for _ in range(op[2] - 1)]
        rng = random.Random(op[3])
        for h in extra:
            invite.headers.insert(rng.randrange(len(invite.headers) + 1), h)
    elif kind == "overflow":
        find(op[1])[0][1] = overflow(op[2], op[3])
    elif kind == "append":
        header = find(op[1])[0]
        if header[1] is None:
            header[1] = str(len(invite.body))
        header[1] = header[1] + overflow(op[2], op[3])
    elif kind == "set":
        find(op[1])[0][1] = op[2]
    elif kind == "version":
        invite.version = op[1]
    elif kind == "uri":
        invite.uri = op[1]
    elif kind == "uri_user":
        invite.uri = "sip:" + overflow(op[1], op[2]) + "@" + invite.uri.split("@", 1)[1]
    elif kind == "method":
        invite.method = op[1]
        # Keep CSeq's method in step, so the method itself is what is tested.
        find("CSeq")[0][1] = "1 " + op[1]
    elif kind == "body":
        invite.body = op[1]
    elif kind == "stray":
        wire = invite.wire().decode("latin-1")
        head_end = wire.index("\r\n\r\n")
        at = 1 + op[1] % (head_end - 1)
        invite.__dict__["_wire"] = (wire[:at] + op[2] + wire[at:]).encode("latin-1")
    elif kind == "header_name":
        rng = random.Random(op[1])
        header = rng.choice(invite.headers)
        header[0] = rng.choice(["", " ", "Via ", "C all-ID", "CSeq\x00", "X" * 300, "::", "To\t"])
    return invite.__dict__.get("_wire") or invite.wire()


# ---------------------------------------------------------------- lanes

def header(text, name):
    m = re.search(r"^(?:%s)[ \t]*:[ \t]*(.*?)\r?$" % name, text, re.M | re.I)
    return m.group(1) if m else None


# One large case in flight at a time: four 60 KB datagrams at once would
# overflow chorus's default UDP receive buffer and the kernel would drop the
# valid INVITE behind them, which says nothing about chorus.
BIG = 8192
big_case = threading.Lock()


def raw_call_id(wire):
    m = re.search(rb"\r\n(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]*)", wire, re.I)
    return m.group(1).decode("latin-1").strip() if m else None


class Lane(threading.Thread):
    def __init__(self, index, sip_port, cases):
        super().__init__(daemon=True)
        self.index = index
        self.sip_port = sip_port
        self.cases = cases
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.port = self.sock.getsockname()[1]
        self.media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # RTP lands here, unread
        self.media.bind((HOST, 0))
        self.rtp = self.media.getsockname()[1]
        self.room = f"robust{index}"
        self.replies = {}      # case index -> [(status, reason)]
        self.sent = set()      # case indexes sent
        self.case_of_call = {}  # a case's Call-ID as sent (maybe mangled) -> case index
        self.first = []        # seconds to the valid INVITE's first response
        self.final = []        # seconds to its 200
        self.failures = []
        self.slow = []         # (seconds, case index, name): first response too late
        self.done = 0
        self.calls_cleaned = 0
        self.unended = []
        self.resent = 0         # valid INVITEs sent again (timer A)

    def send(self, data):
        try:
            self.sock.sendto(data, (HOST, self.sip_port))
        except OSError as error:  # EMSGSIZE: a BYE echoing a 60 KB From
            self.unended.append(f"{len(data)} bytes not sent: {error}")

    def end_call(self, text):
        """ACK + BYE for a 200 to an INVITE (ours or a case's that parsed)."""
        to = header(text, "To|t")
        frm = header(text, "From|f")
        call_id = header(text, "Call-ID|i")
        cseq = header(text, "CSeq")
        contact = header(text, "Contact|m")
        if not (to and frm and call_id and cseq):
            self.unended.append(f"200 without From/To/Call-ID/CSeq: {text[:200]!r}")
            return
        target = re.search(r"<([^>]*)>", contact or "")
        uri = target.group(1) if target else f"sip:{self.room}@{HOST}:{self.sip_port}"
        number = int(cseq.split()[0]) if cseq.split()[0].isdigit() else 1
        for method, n in (("ACK", number), ("BYE", number + 1)):
            self.send((f"{method} {uri} SIP/2.0\r\n"
                       f"Via: SIP/2.0/UDP {HOST}:{self.port};branch=z9hG4bK{method}{time.monotonic_ns()};rport\r\n"
                       f"Max-Forwards: 70\r\nFrom: {frm}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
                       f"CSeq: {n} {method}\r\nContent-Length: 0\r\n\r\n").encode("latin-1"))
        self.calls_cleaned += 1

    def handle(self, data, case_index, valid_call_id):
        text = data.decode("latin-1")
        first = text.split("\r\n", 1)[0]
        if not first.startswith("SIP/2.0 "):
            # A request from the focus (BYE of a call it ends): say 200.
            if first.startswith("ACK "):
                return None
            vias = "\r\n".join("Via: " + v for v in re.findall(r"^Via:[ \t]*(.*?)\r?$", text, re.M))
            reply = (f"SIP/2.0 200 OK\r\n{vias}\r\nFrom: {header(text, 'From')}\r\n"
                     f"To: {header(text, 'To')}\r\nCall-ID: {header(text, 'Call-ID')}\r\n"
                     f"CSeq: {header(text, 'CSeq')}\r\nContent-Length: 0\r\n\r\n")
            self.send(reply.encode("latin-1"))
            return None
        parts = first.split(" ", 2)
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        call_id = header(text, "Call-ID|i")
        cseq = header(text, "CSeq") or ""
        if status == 200 and cseq.endswith("INVITE"):
            self.end_call(text)
        if call_id == valid_call_id and cseq.endswith("INVITE"):
            return status
        if cseq.endswith("BYE") or cseq.endswith("ACK") or (call_id or "").startswith("valid-"):
            return None  # ours, or an earlier valid INVITE's late answer (ended above)
        # A case's answer may come late (a 200 after the media add): its
        # Call-ID says which case, unless the case broke the Call-ID itself.
        owner = re.fullmatch(r"case-(\d+)@robust", call_id or "")
        if owner:
            owner = int(owner.group(1))
        else:
            owner = self.case_of_call.get((call_id or "").strip(), case_index)
        self.replies.setdefault(owner, []).append((status, reason))
        return None

    def run(self):
        for n, (case_index, case) in enumerate(self.cases):
            if remaining() <= 0:
                self.failures.append("time limit reached")
                return
            bad = Invite(self.room, self.port, self.sip_port, self.rtp, f"case-{case_index}@robust",
                         f"z9hG4bKc{case_index}", f"c{case_index}")
            wire = apply(case, bad)
            big = len(wire) > BIG
            if big:
                big_case.acquire()
            try:
                self.case_of_call[raw_call_id(wire) or ""] = case_index
                self.send(wire)
                self.sent.add(case_index)
                self.run_valid(n, case_index, case)
            finally:
                if big:
                    big_case.release()
        # Late answers (BYE 200s, a case's late 200).
        self.sock.settimeout(0.3)
        try:
            while True:
                self.handle(self.sock.recv(70000), -1, "")
        except socket.timeout:
            pass

    def run_valid(self, n, case_index, case):
        valid_call_id = f"valid-{self.index}-{n}@robust"
        good = Invite(self.room, self.port, self.sip_port, self.rtp, valid_call_id,
                      f"z9hG4bKv{self.index}x{n}", f"v{n}")
        sent = time.monotonic()
        invite = good.wire()
        self.send(invite)
        # Like a UA over UDP, send it again while nothing came back (RFC 3261
        # §17.1.1.2, timer A from 500 ms): one datagram lost on a loaded
        # machine is not a failure to answer. The time counts from the first.
        resend_at, interval = sent + 0.5, 0.5
        first_at = final_at = None
        while final_at is None:
            now = time.monotonic()
            left = sent + FINAL_ANSWER - now
            if left <= 0:
                break
            if first_at is None and now >= resend_at:
                self.send(invite)
                self.resent += 1
                interval *= 2
                resend_at = now + interval
            self.sock.settimeout(min(left, resend_at - now) if first_at is None else left)
            try:
                data = self.sock.recv(70000)
            except socket.timeout:
                continue  # time to send again, or out of time (checked above)
            status = self.handle(data, case_index, valid_call_id)
            if status is None:
                continue
            now = time.monotonic()
            if first_at is None:
                first_at = now - sent
            if status >= 200:
                final_at = now - sent
                if status != 200:
                    self.failures.append(f"valid INVITE after {case[0]!r}: {status}")
        if first_at is None or first_at > FIRST_ANSWER:
            self.slow.append((first_at if first_at is not None else float("inf"), case_index,
                              case[0]))
        if final_at is None:
            self.failures.append(f"valid INVITE after case {case_index} ({case[0]!r}): no 200")
        else:
            self.final.append(final_at)
        if first_at is not None:
            self.first.append(first_at)
        self.done += 1


def metrics(admin_port):
    with urllib.request.urlopen(f"http://{HOST}:{admin_port}/metrics", timeout=5) as r:
        return r.read().decode()


def metric(text, name, labels=""):
    m = re.search(r"^%s%s (\d+)" % (re.escape(name), re.escape(labels)), text, re.M)
    return int(m.group(1)) if m else 0


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    binary = args[0]
    opts = dict(zip(args[1::2], args[2::2]))
    global FIRST_ANSWER, FINAL_ANSWER
    FIRST_ANSWER = float(opts.get("--first-ms", FIRST_ANSWER * 1000)) / 1000
    FINAL_ANSWER = float(opts.get("--final-ms", FINAL_ANSWER * 1000)) / 1000
    count = int(opts.get("--cases", 4000))
    lanes = int(opts.get("--lanes", 4))
    seed = int(opts.get("--seed", 13))
    cases = make_cases(count, seed)
    work = tempfile.mkdtemp(prefix="chorus-robust-")
    sip_port = free_port()
    admin_port = free_port(socket.SOCK_STREAM)
    config = os.path.join(work, "chorus.toml")
    with open(config, "w") as f:
        f.write(f"""[sip]
listen = "{HOST}:{sip_port}"
tcp = false
[media]
rtp_ports = "41000-41999"
shards = 1
# A call whose BYE got lost (UDP, no retransmission here) ends by this.
rtp_timeout_ms = 3000
[log]
level = "warn"
[admin]
port = {admin_port}
token = "robustness-test-token-32-characters"
""")
    log = open(os.path.join(work, "chorus.log"), "w")
    process = subprocess.Popen([binary, "--config", config], stdout=log, stderr=subprocess.STDOUT)
    failures = []
    try:
        # Up: OPTIONS answered.
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind((HOST, 0))
        probe.settimeout(0.2)
        up = False
        while not up and remaining() > LIMIT - 30:
            if process.poll() is not None:
                break
            probe.sendto((f"OPTIONS sip:{HOST}:{sip_port} SIP/2.0\r\nVia: SIP/2.0/UDP {HOST}:"
                          f"{probe.getsockname()[1]};branch=z9hG4bKup{time.monotonic_ns()}\r\n"
                          f"From: <sip:p@{HOST}>;tag=1\r\nTo: <sip:{HOST}>\r\nCall-ID: up@robust\r\n"
                          f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(), (HOST, sip_port))
            try:
                up = probe.recv(4096).startswith(b"SIP/2.0 200")
            except socket.timeout:
                pass
        if not up:
            print("FAIL: chorus did not come up\n" + open(log.name).read()[-3000:])
            return 1
        before = metrics(admin_port)
        indexed = list(enumerate(cases))
        workers = [Lane(i, sip_port, indexed[i::lanes]) for i in range(lanes)]
        began = time.monotonic()
        for w in workers:
            w.start()
        for w in workers:
            w.join(max(remaining(), 0.1))
        elapsed = time.monotonic() - began
        if any(w.is_alive() for w in workers):
            failures.append("lanes still running at the time limit")
        if process.poll() is not None:
            failures.append(f"chorus exited with {process.returncode}")
        replies = {}
        sent = set().union(*(w.sent for w in workers))
        if len(sent) < len(cases):
            failures.append(f"only {len(sent)} of {len(cases)} cases sent within the time limit")
        slow = sorted((x for w in workers for x in w.slow), reverse=True)
        if slow:
            failures.append(f"{len(slow)} valid INVITEs not answered within "
                            f"{FIRST_ANSWER * 1000:.0f} ms; the slowest: " +
                            "; ".join(f"{t * 1000:.0f} ms after case {i} ({n!r})"
                                      for t, i, n in slow[:8]))
        for w in workers:
            failures.extend(w.failures)
            replies.update(w.replies)
        # What each case got.
        drops = 0
        counted = {"named": 0, "drop": 0, "final": 0, "any": 0}
        for index, (name, _, expect) in enumerate(cases):
            if index not in sent:
                continue
            got = replies.get(index, [])
            finals = [(s, r) for s, r in got if s >= 200]
            if any(200 <= s < 300 for s, _ in finals) and expect not in (None, "final"):
                failures.append(f"case {index} ({name!r}) was accepted: {finals}")
            if expect == "drop":
                counted["drop"] += 1
                drops += 1
                if finals:
                    failures.append(f"case {index} ({name!r}) should be dropped, got {finals}")
            elif expect == "final":
                counted["final"] += 1
                if not finals:
                    failures.append(f"case {index} ({name!r}) got no final answer")
            elif expect is not None:
                counted["named"] += 1
                if not any(s in (400, 505) and expect.lower() in r.lower() for s, r in finals):
                    failures.append(f"case {index} ({name!r}) wanted 400 naming {expect!r}, got {finals}")
            else:
                counted["any"] += 1
                # 501: an unknown method (§8.2.1); 503/505/513 name their fault.
                if any(s >= 500 and s not in (501, 503, 505, 513) for s, _ in finals):
                    failures.append(f"case {index} ({name!r}) got a server error: {finals}")
        time.sleep(0.5)
        after = metrics(admin_port)
        dropped = (metric(after, "chorus_sip_malformed_total", '{outcome="dropped"}') -
                   metric(before, "chorus_sip_malformed_total", '{outcome="dropped"}'))
        if dropped < drops:
            failures.append(f"{drops} cases should be dropped and counted, metrics count {dropped}")
        # Every call ended (the BYEs went out above, or the RTP timeout).
        deadline = time.monotonic() + 10
        members = metric(after, "chorus_members")
        while members != 0 and time.monotonic() < deadline and remaining() > 0:
            time.sleep(0.1)
            members = metric(metrics(admin_port), "chorus_members")
        if members != 0:
            failures.append(f"{members} members left after every call ended: " +
                            "; ".join(x for w in workers for x in w.unended)[:2000])
        firsts = sorted(x for w in workers for x in w.first)
        finals = sorted(x for w in workers for x in w.final)
        pct = lambda xs, p: xs[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else float("nan")
        print(f"{len(cases)} cases in {elapsed:.1f} s over {lanes} lanes: "
              f"{counted['named']} must be answered 400 naming the fault, {counted['drop']} dropped "
              f"(counted: {dropped}), {counted['final']} broken bodies answered, {counted['any']} free; "
              f"valid INVITE first response p50 {pct(firsts, .5):.1f} ms, max {pct(firsts, 1):.1f} ms; "
              f"200 OK p50 {pct(finals, .5):.1f} ms, p99 {pct(finals, .99):.1f} ms, "
              f"max {pct(finals, 1):.1f} ms; calls ended {sum(w.calls_cleaned for w in workers)}; "
              f"valid INVITEs resent {sum(w.resent for w in workers)}")
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
    if process.returncode not in (0, -15):
        failures.append(f"chorus exit status {process.returncode}")
    if failures:
        print(f"FAIL: {len(failures)} problems; the first:")
        for line in failures[:30]:
            print("  " + line)
        print("--- chorus log (tail)\n" + open(log.name, errors="replace").read()[-3000:])
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
