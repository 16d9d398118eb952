#!/usr/bin/env python3
"""Two Chorus nodes behind two Kamailio fronts (deploy/kamailio/kamailio.cfg) on 127.0.0.1.

Dials several rooms through Kamailio with two members each and checks that
  * both members of a room were answered by the same node (the Contact of the
    200 OK is the node's own host:port),
  * each member hears the other: every member sends a PCMU tone of its own
    frequency, and what it receives carries the other's tone, not its own
    (the focus mixes N-1),
  * the rooms are spread over both nodes (hashing by room name works),
then moves a member of a room on one node to a room that hashes to the other
(admin API on the first node, README "Moving members": the node REFERs the
member to sip:B@front, the member calls B through Kamailio, reports 200 OK
in a sipfrag NOTIFY and gets the first node's BYE; it then hears B's member
and B hears it), moves another member the same way by an out-of-dialog
REFER sip:B@front (Refer-To: <urn:sip-action:conference:add>, Target-Dialog
naming the member, digest credentials of an account with the move right)
that a second front, which shares the first's Call-ID -> node table over
DMQ over TCP (a KDMQ from an address not allowed is refused 403), routes
by the Target-Dialog to the member's node (202 from
that node, the member transferred, the final NOTIFY `SIP/2.0 200 OK`), while
a REFER naming a dialog the front never saw is hashed to B's node and
answered 481; a REFER sip:C@front then moves it on to a room C on its new
node (a local move there, heard in C). It checks that a SUBSCRIBE to a
sidebar URI (sip:ROOM@front;sidebar=N, the URI the node publishes for it)
is answered by the node of the sidebar's room, then stops one node and
checks that rooms created afterwards all land on the survivor and
still carry audio. Exit 0 on success, 1 on failure, 77 when
Kamailio is not installed. Bounded: about 25 s, hard limit 90 s.

With --load CHORUS_LOAD it also runs bench/load's chorus-load through
Kamailio (three rooms of three, every participant verified: it hears every
other talker of its room and never itself) while both nodes are up.

  kamailio_cluster_test.py CHORUS KAMAILIO_CFG [--kamailio BINARY] [--load CHORUS_LOAD]
"""

import hashlib
import math
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

DEADLINE = time.monotonic() + 85
HOST = "127.0.0.1"
ROOMS_BEFORE = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
ROOMS_AFTER = ["golf", "hotel", "india", "juliet"]
TONES = (440.0, 1100.0)  # member 0, member 1
STREAM_SECONDS = 1.6
ADMIN_TOKEN = "cluster-test-token-of-32-characters"
MOVER = ("mover", "mover-secret")  # [[account]] with the move right on both nodes


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def remaining():
    left = DEADLINE - time.monotonic()
    if left <= 0:
        raise Failure("out of time")
    return left


def free_port(kind=socket.SOCK_DGRAM, even_pair=False):
    """A port free for both UDP and TCP on 127.0.0.1, below the kernel's
    ephemeral range (32768+) so outgoing connections of other tests do not
    grab it between this check and our bind."""
    for _ in range(500):
        port = random.randrange(20000, 32000)
        if even_pair:
            port &= ~1
        ok = True
        for p in ([port, port + 1] if even_pair else [port]):
            for k in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                t = socket.socket(socket.AF_INET, k)
                try:
                    t.bind((HOST, p))
                except OSError:
                    ok = False
                t.close()
        if ok:
            return port
    raise Failure("no free port")


# --- G.711 mu-law (ITU-T G.711) ---------------------------------------------

def ulaw_encode(sample):
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent, mask = 7, 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_decode(byte):
    byte = ~byte & 0xFF
    value = (((byte & 0x0F) << 3) + 0x84) << ((byte >> 4) & 7)
    value -= 0x84
    return -value if byte & 0x80 else value


ULAW_TABLE = [ulaw_decode(b) for b in range(256)]


def goertzel(samples, freq, rate=8000):
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


# --- A minimal SIP UAC over UDP ---------------------------------------------

class Member:
    def __init__(self, room, index, proxy_port):
        self.room, self.index, self.proxy = room, index, (HOST, proxy_port)
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((HOST, 0))
        self.sip_port = self.sip.getsockname()[1]
        rtp_port = free_port(even_pair=True)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((HOST, rtp_port))
        self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtcp.bind((HOST, rtp_port + 1))
        self.rtp_port = rtp_port
        self.call_id = "%08x@h12-cluster-test" % random.getrandbits(32)
        self.tag = "%08x" % random.getrandbits(32)
        self.cseq = 0
        self.node = None          # "127.0.0.1:PORT" from the answer's Contact
        self.remote_target = None
        self.route = []
        self.to_header = None
        self.media = None         # (host, port) from the answer's SDP
        self.received = []        # decoded samples
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.ssrc = random.getrandbits(32)
        self.phase = 0
        self.log = []             # (direction, method, call_id) of in-dialog requests
        self.refer_to = None      # the Refer-To URI of the last REFER received
        self.refer_cseq = None
        self.notify_bodies = []   # bodies of the NOTIFYs received, in order

    def close(self):
        for s in (self.sip, self.rtp, self.rtcp):
            s.close()

    def _send(self, text):
        self.sip.sendto(text.encode(), self.proxy)

    def _headers(self, method, uri, cseq, branch, extra=""):
        return (f"{method} {uri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {HOST}:{self.sip_port};branch={branch};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:member{self.index}@{HOST}>;tag={self.tag}\r\n"
                f"To: {self.to_header}\r\n"
                f"Call-ID: {self.call_id}\r\n"
                f"CSeq: {cseq} {method}\r\n"
                f"Contact: <sip:member{self.index}@{HOST}:{self.sip_port}>\r\n"
                f"{extra}")

    def _receive(self, timeout):
        end = time.monotonic() + timeout
        while True:
            left = min(end - time.monotonic(), remaining())
            if left <= 0:
                return None
            ready, _, _ = select.select([self.sip], [], [], left)
            if not ready:
                return None
            data = self.sip.recv(65535).decode(errors="replace")
            head, _, body = data.partition("\r\n\r\n")
            lines = head.split("\r\n")
            if lines[0].startswith("SIP/2.0 "):
                return int(lines[0].split()[1]), lines[1:], body
            # A request to us (a BYE from a stopping node, a REFER): answer it.
            self._answer_request(lines, data)

    def _answer_request(self, lines, data):
        method = lines[0].split()[0]
        call_id = (self._header(lines[1:], "call-id") or [""])[0]
        self.log.append(("in", method, call_id))
        status = "200 OK"
        if method == "REFER":
            # RFC 3515 §2.4.2: accepted; the outcome follows in NOTIFYs.
            status = "202 Accepted"
            target = re.search(r"<([^>]+)>", self._header(lines[1:], "refer-to")[0])
            self.refer_to = target.group(1)
            self.refer_cseq = int(self._header(lines[1:], "cseq")[0].split()[0])
        elif method == "NOTIFY":
            self.notify_bodies.append(data.partition("\r\n\r\n")[2])
        keep = [l for l in lines[1:] if re.match(r"(?i)(via|from|to|call-id|cseq)\s*:", l)]
        self.sip.sendto((f"SIP/2.0 {status}\r\n" + "\r\n".join(keep) +
                         "\r\nContent-Length: 0\r\n\r\n").encode(), self.proxy)

    def wait_request(self, method, call_id, timeout):
        """Runs the SIP socket until `method` came in dialog `call_id`."""
        end = time.monotonic() + timeout
        while ("in", method, call_id) not in self.log:
            check(time.monotonic() < end, f"{self.room}/{self.index}: no {method} came")
            self._receive(0.1)

    def _dialog(self):
        return (self.call_id, self.tag, self.cseq, self.remote_target, self.route,
                self.to_header, self.node, self.room)

    def _set_dialog(self, state):
        (self.call_id, self.tag, self.cseq, self.remote_target, self.route,
         self.to_header, self.node, self.room) = state

    def follow_refer(self):
        """The transferee (RFC 5589): INVITE the Refer-To URI through the
        proxy (same RTP socket), then report its 200 OK in the old dialog's
        refer subscription (RFC 3515 §2.4.5); the old dialog's BYE is left to
        the transferor."""
        old = self._dialog()
        self.call_id = "%08x@h12-cluster-test" % random.getrandbits(32)
        self.tag = "%08x" % random.getrandbits(32)
        self.room = re.match(r"sips?:([^@]+)@", self.refer_to).group(1)
        self.invite(self.refer_to)
        new = self._dialog()
        self._set_dialog(old)
        self.cseq += 1
        frag = "SIP/2.0 200 OK\r\n"
        branch = "z9hG4bK%08x" % random.getrandbits(32)
        routes = "".join(f"Route: {r}\r\n" for r in self.route)
        notify = self._headers("NOTIFY", self.remote_target, self.cseq, branch,
                               routes + f"Event: refer;id={self.refer_cseq}\r\n"
                               "Subscription-State: terminated;reason=noresource\r\n"
                               "Content-Type: message/sipfrag;version=2.0\r\n"
                               f"Content-Length: {len(frag)}\r\n\r\n") + frag
        self.log.append(("out", "NOTIFY", self.call_id))
        self._send(notify)
        for _ in range(8):
            reply = self._receive(0.5)
            if reply is None:
                self._send(notify)
                continue
            if reply[0] >= 200:
                check(reply[0] == 200, f"{self.room}/{self.index}: NOTIFY answered {reply[0]}")
                break
        self._set_dialog(new)
        return old[0]  # the old dialog's Call-ID

    @staticmethod
    def _header(lines, name):
        return [l.split(":", 1)[1].strip() for l in lines
                if l.split(":", 1)[0].strip().lower() == name]

    def invite(self, uri=None):
        uri = uri or f"sip:{self.room}@{HOST}:{self.proxy[1]}"
        self.to_header = f"<{uri}>"
        sdp = ("v=0\r\n"
               f"o=- {self.ssrc} 1 IN IP4 {HOST}\r\n"
               "s=-\r\n"
               f"c=IN IP4 {HOST}\r\n"
               "t=0 0\r\n"
               f"m=audio {self.rtp_port} RTP/AVP 0\r\n"
               "a=rtpmap:0 PCMU/8000\r\n"
               "a=sendrecv\r\n")
        self.cseq = 1
        branch = "z9hG4bK%08x" % random.getrandbits(32)
        message = self._headers("INVITE", uri, 1, branch,
                                "Content-Type: application/sdp\r\n"
                                f"Content-Length: {len(sdp)}\r\n\r\n") + sdp
        self._send(message)
        sent = time.monotonic()
        interval = 0.5
        while True:
            reply = self._receive(interval)
            if reply is None:
                check(time.monotonic() - sent < 8, f"{self.room}/{self.index}: INVITE unanswered")
                self._send(message)  # RFC 3261 §17.1.1.2 retransmission, roughly
                continue
            code, lines, body = reply
            if code < 200:
                interval = 4
                continue
            check(code == 200, f"{self.room}/{self.index}: INVITE answered {code}")
            break
        contact = self._header(lines, "contact") + self._header(lines, "m")
        check(contact, f"{self.room}: 200 OK without Contact")
        target = re.search(r"<([^>]+)>", contact[0])
        self.remote_target = target.group(1) if target else contact[0].split(";")[0]
        node = re.search(r"@?([0-9.]+):(\d+)", self.remote_target)
        check(node, f"{self.room}: Contact without host:port: {contact[0]}")
        self.node = f"{node.group(1)}:{node.group(2)}"
        self.to_header = self._header(lines, "to")[0]
        # RFC 3261 §12.1.2: the UAC's route set is the Record-Route reversed.
        rr = []
        for value in self._header(lines, "record-route"):
            rr.extend(v.strip() for v in value.split(","))
        self.route = list(reversed(rr))
        check(self.route, f"{self.room}: Kamailio did not Record-Route the dialog")
        conn = re.search(r"c=IN IP4 ([0-9.]+)", body)
        port = re.search(r"m=audio (\d+)", body)
        check(conn and port, f"{self.room}: no audio in the answer SDP")
        self.media = (conn.group(1), int(port.group(1)))
        self._ack()

    def _in_dialog(self, method, cseq):
        branch = "z9hG4bK%08x" % random.getrandbits(32)
        routes = "".join(f"Route: {r}\r\n" for r in self.route)
        return self._headers(method, self.remote_target, cseq, branch,
                             routes + "Content-Length: 0\r\n\r\n")

    def _ack(self):
        self._send(self._in_dialog("ACK", 1))

    def bye(self):
        self.cseq += 1
        message = self._in_dialog("BYE", self.cseq)
        self._send(message)
        for _ in range(8):
            reply = self._receive(0.5)
            if reply is None:
                self._send(message)
                continue
            if reply[0] >= 200:
                check(reply[0] == 200, f"{self.room}/{self.index}: BYE answered {reply[0]}")
                return
        raise Failure(f"{self.room}/{self.index}: BYE unanswered")

    def send_frame(self, freq):
        samples = bytearray(160)
        for i in range(160):
            value = int(8000 * math.sin(self.phase))
            self.phase += 2 * math.pi * freq / 8000
            samples[i] = ulaw_encode(value)
        header = struct.pack("!BBHII", 0x80, 0, self.seq & 0xFFFF, self.ts & 0xFFFFFFFF,
                             self.ssrc)
        self.seq += 1
        self.ts += 160
        self.rtp.sendto(header + bytes(samples), self.media)

    def drain(self):
        while True:
            ready, _, _ = select.select([self.rtp, self.rtcp], [], [], 0)
            if not ready:
                return
            for s in ready:
                data = s.recv(2048)
                if s is not self.rtp or len(data) < 12 or (data[1] & 0x7F) != 0:
                    continue
                offset = 12 + 4 * (data[0] & 0x0F)
                if data[0] & 0x10 and len(data) >= offset + 4:
                    offset += 4 + 4 * struct.unpack("!H", data[offset + 2:offset + 4])[0]
                self.received.extend(ULAW_TABLE[b] for b in data[offset:])


def stream(members):
    """Every member sends its tone for STREAM_SECONDS while all receive."""
    start = time.monotonic()
    frame = 0
    while time.monotonic() - start < STREAM_SECONDS:
        for m in members:
            m.send_frame(TONES[m.index])
        frame += 1
        while time.monotonic() < start + frame * 0.02:
            for m in members:
                m.drain()
            time.sleep(0.002)
    time.sleep(0.1)
    for m in members:
        m.drain()


def check_hearing(m):
    # Skip the first 300 ms (jitter buffer and mixer warm-up).
    samples = m.received[2400:]
    check(len(samples) >= 4000,
          f"{m.room}/{m.index}: only {len(m.received)} samples of audio received")
    other = goertzel(samples, TONES[1 - m.index])
    own = goertzel(samples, TONES[m.index])
    check(other > 20 * max(own, 1.0),
          f"{m.room}/{m.index}: does not hear the other member "
          f"(power at other's tone {other:.3g}, at own tone {own:.3g})")


def check_pair_hears(pair, members):
    """Everyone's audio forgotten; only the two of `pair` talk, and each hears the other."""
    for m in members:
        m.received = []
    stream(pair)
    for m in pair:
        check_hearing(m)


def dial_rooms(rooms, proxy_port):
    members = []
    for room in rooms:
        for index in (0, 1):
            member = Member(room, index, proxy_port)
            members.append(member)
            member.invite()
    stream(members)
    placement = {}
    for m in members:
        check_hearing(m)
        placement.setdefault(m.room, set()).add(m.node)
    for m in members:
        m.bye()
        m.close()
    for room, nodes in placement.items():
        check(len(nodes) == 1, f"room {room} is split over nodes {sorted(nodes)}")
    return {room: next(iter(nodes)) for room, nodes in placement.items()}


def start_chorus(binary, port, rtp_first, work, name, admin_port, proxy_port):
    log = open(os.path.join(work, f"{name}.log"), "w")
    config = os.path.join(work, f"{name}.toml")
    with open(config, "w") as f:
        f.write(f'[admin]\naddress = "{HOST}"\nport = {admin_port}\ntoken = "{ADMIN_TOKEN}"\n\n'
                f'[cluster]\nfront = "sip:{HOST}:{proxy_port}"\n\n'
                f'[[account]]\nuser = "{MOVER[0]}"\npassword = "{MOVER[1]}"\nrights = ["move"]\n')
    process = subprocess.Popen(
        [binary, "--config", config, "--sip", f"{HOST}:{port}",
         "--rtp-ports", f"{rtp_first}-{rtp_first + 99}", "--log-level", "info"],
        stdout=log, stderr=subprocess.STDOUT)
    return process, log.name


def admin(port, method, path, body=None):
    """One admin API request (the operator's token); (status, parsed JSON)."""
    import http.client
    import json
    connection = http.client.HTTPConnection(HOST, port, timeout=min(5, remaining()))
    try:
        payload = json.dumps(body) if body is not None else None
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        if payload:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        return response.status, (json.loads(text) if text else None)
    finally:
        connection.close()


def hashed_apart(proxy_port, nodes):
    """Two room names Kamailio puts on different nodes, found by dialling
    candidates (one member each, hung up at once)."""
    seen = {}
    for name in ["mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"]:
        probe = Member(name, 0, proxy_port)
        probe.invite()
        probe.bye()
        probe.close()
        for other, node in seen.items():
            if node != probe.node:
                return (other, node), (name, probe.node)
        seen[name] = probe.node
    raise Failure(f"rooms {sorted(seen)} all landed on one node")


def check_cross_node_move(proxy_port, nodes, admin_ports):
    """A member of room A (node X) is moved by node X's admin API to room B
    on node Y: REFER, NOTIFY 200 and BYE in that order in the old dialog,
    then it hears B's member and B's member hears it; A no longer lists it."""
    (room_a, node_a), (room_b, node_b) = hashed_apart(proxy_port, nodes)
    admin_a = admin_ports[[n for _, _, n in nodes].index(node_a)]
    mover = Member(room_a, 0, proxy_port)
    stays = Member(room_a, 1, proxy_port)
    there = Member(room_b, 1, proxy_port)
    members = [mover, stays, there]
    try:
        for m in members:
            m.invite()
        check(mover.node == node_a and there.node == node_b, "rooms moved between nodes")
        status, state = admin(admin_a, "GET", f"/api/rooms/{room_a}")
        check(status == 200, f"admin GET room {room_a}: {status}")
        ids = [m["id"] for m in state["members"] if m["call_id"] == mover.call_id]
        check(len(ids) == 1, f"room {room_a} does not list the mover: {state}")
        status, answer = admin(admin_a, "POST", f"/api/rooms/{room_a}/members/{ids[0]}/move",
                               {"to": room_b})
        check(status == 202, f"admin move answered {status} {answer}")
        old_call = mover.call_id
        mover.wait_request("REFER", old_call, 5)
        check(mover.refer_to == f"sip:{room_b}@{HOST}:{proxy_port}",
              f"Refer-To {mover.refer_to}, not room {room_b} at the front")
        mover.follow_refer()
        check(mover.node == node_b, f"the moved member reached {mover.node}, not {node_b}")
        mover.wait_request("BYE", old_call, 5)
        order = [(d, m) for d, m, c in mover.log if c == old_call]
        check(order == [("in", "REFER"), ("out", "NOTIFY"), ("in", "BYE")],
              f"old dialog saw {order}, not REFER, NOTIFY, BYE")
        status, state = admin(admin_a, "GET", f"/api/rooms/{room_a}")
        check(status == 200 and all(m["call_id"] != old_call for m in state["members"]),
              f"room {room_a} on {node_a} still lists the moved member: {state}")
        # Only the mover (440 Hz) and B's member (1100 Hz) talk: the mover
        # hears 1100 Hz only from room B.
        check_pair_hears([mover, there], members)
        print(f"moved {room_a}@{node_a} -> {room_b}@{node_b}: PASS")
    finally:
        for m in members:
            try:
                m.bye()
            except Failure:
                pass
            m.close()


def digest_authorization(challenge, method, uri, user, password):
    """RFC 7616 Authorization (qop=auth) answering one WWW-Authenticate."""
    params = {k.lower(): quoted or bare for k, quoted, bare in
              re.findall(r'([\w-]+)=(?:"([^"]*)"|([^\s,]+))', challenge)}
    algorithm = params.get("algorithm", "MD5")
    digest = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algorithm]
    h = lambda text: digest(text.encode()).hexdigest()
    cnonce, nc = "%016x" % random.getrandbits(64), "00000001"
    ha1 = h(f"{user}:{params['realm']}:{password}")
    ha2 = h(f"{method}:{uri}")
    response = h(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    return (f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
            f'uri="{uri}", response="{response}", algorithm={algorithm}, qop=auth, '
            f'nc={nc}, cnonce="{cnonce}"')


def refer_out_of_dialog(referrer, uri, target_dialog):
    """Sends REFER `uri` (Refer-To: <urn:sip-action:conference:add>,
    Target-Dialog) from `referrer` through the front, answers the digest
    challenge with MOVER's credentials; returns the final (code, lines)."""
    referrer.call_id = "%08x@h12-cluster-test" % random.getrandbits(32)
    referrer.tag = "%08x" % random.getrandbits(32)
    referrer.to_header = f"<{uri}>"
    authorization = ""
    for cseq in (1, 2):
        branch = "z9hG4bK%08x" % random.getrandbits(32)
        message = referrer._headers(
            "REFER", uri, cseq, branch,
            "Refer-To: <urn:sip-action:conference:add>\r\n"
            f"Target-Dialog: {target_dialog}\r\n{authorization}"
            "Content-Length: 0\r\n\r\n")
        referrer._send(message)
        reply = None
        for _ in range(8):
            reply = referrer._receive(0.5)
            if reply is None:
                referrer._send(message)
            elif reply[0] >= 200:
                break
        check(reply is not None and reply[0] >= 200, f"REFER {uri}: no final answer")
        if reply[0] != 401 or authorization:
            return reply[0], reply[1]
        challenges = referrer._header(reply[1], "www-authenticate")
        check(challenges, "401 to the REFER without WWW-Authenticate")
        authorization = "Authorization: %s\r\n" % digest_authorization(
            challenges[0], "REFER", uri, *MOVER)
    raise Failure("unreachable")


def final_notify(referrer, others, timeout):
    """Runs the sockets of `referrer` and `others` (answering their requests)
    until the referrer got a NOTIFY whose sipfrag is final; returns it."""
    end = time.monotonic() + timeout
    while True:
        finals = [b for b in referrer.notify_bodies if not b.startswith("SIP/2.0 1")]
        if finals:
            return finals[0]
        check(time.monotonic() < end, f"no final NOTIFY for the REFER: {referrer.notify_bodies}")
        for m in [referrer] + others:
            m._receive(0.02)


def check_refer_move_through_front(proxy_port, nodes, placement, second_port):
    """Issue #17: a member of room A (node X) is moved to room B (node Y) by
    an out-of-dialog REFER sip:B@front naming it with Target-Dialog (README
    "Moving members"). The front sends that REFER to X, the node holding the
    member's dialog (hashing B's name would reach Y, which answers 481): 202
    from X, X REFERs the member to sip:B@front, the member lands on Y, and
    the referrer's final NOTIFY says SIP/2.0 200 OK. A Target-Dialog the
    front never saw is hashed by room: Y answers 481. The REFER naming the
    member goes through a second front, which learnt the member's node from
    the first over DMQ (deploy/kamailio "Several fronts"). Then the member, now
    in its new dialog with Y (which the front learnt from that INVITE), is
    moved by REFER sip:C@front to a room C that also hashes to Y: a local
    move on Y, heard in C."""
    (room_a, node_a), (room_b, node_b) = hashed_apart(proxy_port, nodes)
    room_c = next(r for r, n in placement.items() if n == node_b and r != room_b)
    member = Member(room_a, 0, proxy_port)
    there = Member(room_b, 1, proxy_port)
    in_c = Member(room_c, 1, proxy_port)
    referrer = Member(room_b, 2, proxy_port)
    members = [member, there, in_c]
    uri = f"sip:{room_b}@{HOST}:{proxy_port}"
    try:
        for m in (member, there):
            m.invite()
        check(member.node == node_a and there.node == node_b, "rooms moved between nodes")

        # Unknown to the front: hashed by room B to node Y, which holds no such dialog.
        code, _ = refer_out_of_dialog(referrer, uri, "nobody-%08x@h12-cluster-test;"
                                      "local-tag=aaaa;remote-tag=bbbb" % random.getrandbits(32))
        check(code == 481, f"REFER naming an unknown dialog answered {code}, not 481")

        old_call = member.call_id
        remote_tag = re.search(r";\s*tag=([^;>\s]+)", member.to_header).group(1)
        # Through the second front: the member's INVITE went through the first.
        uri_second = f"sip:{room_b}@{HOST}:{second_port}"
        referrer.proxy = (HOST, second_port)
        code, lines = refer_out_of_dialog(
            referrer, uri_second, f"{old_call};local-tag={member.tag};remote-tag={remote_tag}")
        check(code == 202, f"REFER {uri_second} naming the member of {room_a} answered {code}, "
                           "not 202 (the second front did not learn the member's node over "
                           "DMQ?)")
        contact = referrer._header(lines, "contact") + referrer._header(lines, "m")
        check(contact and node_a in contact[0],
              f"the REFER was accepted by {contact}, not by the member's node {node_a}")

        # The referrer answers its NOTIFYs while the member follows the REFER.
        stop = threading.Event()

        def answer_notifies():
            while not stop.is_set():
                try:
                    referrer._receive(0.1)
                except Failure:
                    return
        responder = threading.Thread(target=answer_notifies, daemon=True)
        responder.start()
        try:
            member.wait_request("REFER", old_call, 5)
            check(member.refer_to == uri, f"Refer-To {member.refer_to}, not {uri}")
            member.follow_refer()
            check(member.node == node_b, f"the moved member reached {member.node}, not {node_b}")
            member.wait_request("BYE", old_call, 5)
            end = time.monotonic() + 5
            while not any(b.startswith("SIP/2.0 2") or b.startswith("SIP/2.0 4") or
                          b.startswith("SIP/2.0 5") for b in referrer.notify_bodies):
                check(time.monotonic() < end and remaining() > 0,
                      f"no final NOTIFY for the REFER: {referrer.notify_bodies}")
                time.sleep(0.05)
        finally:
            stop.set()
            responder.join(timeout=2)
        finals = [b for b in referrer.notify_bodies if not b.startswith("SIP/2.0 1")]
        check(finals[0].startswith("SIP/2.0 200 OK"),
              f"the REFER's final NOTIFY says {finals[0]!r}, not SIP/2.0 200 OK")
        order = [(d, m) for d, m, c in member.log if c == old_call]
        check(order == [("in", "REFER"), ("out", "NOTIFY"), ("in", "BYE")],
              f"old dialog saw {order}, not REFER, NOTIFY, BYE")
        check_pair_hears([member, there], [member, there])
        print(f"REFER {room_b}@front moved {room_a}@{node_a} -> {room_b}@{node_b}: PASS")

        # Room C on the member's new node: a local move there, same dialog.
        referrer.proxy = (HOST, proxy_port)
        in_c.invite()
        check(in_c.node == node_b, f"room {room_c} reached {in_c.node}, not {node_b}")
        referrer.notify_bodies = []
        remote_tag = re.search(r";\s*tag=([^;>\s]+)", member.to_header).group(1)
        uri_c = f"sip:{room_c}@{HOST}:{proxy_port}"
        code, lines = refer_out_of_dialog(
            referrer, uri_c, f"{member.call_id};local-tag={member.tag};remote-tag={remote_tag}")
        check(code == 202, f"REFER {uri_c} naming the member (now in {room_b}) answered {code}")
        body = final_notify(referrer, [member, there, in_c], 5)
        check(body.startswith("SIP/2.0 200 OK"),
              f"the local move's final NOTIFY says {body!r}, not SIP/2.0 200 OK")
        # Only the member (440 Hz) and C's member (1100 Hz) talk.
        check_pair_hears([member, in_c], members)
        print(f"REFER {room_c}@front moved it on within {node_b}: PASS")
    finally:
        for m in members:
            try:
                if m.remote_target:
                    m.bye()
            except Failure:
                pass
            m.close()
        referrer.close()


def check_sidebar_routing(proxy_port, nodes, admin_ports):
    """SUBSCRIBE sip:ROOM@front;sidebar=N through Kamailio reaches ROOM's node."""
    (room, node), (other_room, other_node) = hashed_apart(proxy_port, nodes)
    for name, where in ((room, node), (other_room, other_node)):
        member = Member(name, 0, proxy_port)
        try:
            member.invite()
            admin_port = admin_ports[[n for _, _, n in nodes].index(where)]
            status, created = admin(admin_port, "POST", f"/api/rooms/{name}/sidebars",
                                    {"name": "huddle", "members": []})
            check(status == 201, f"sidebar create in {name}: {status} {created}")
            watcher = Member(name, 1, proxy_port)
            try:
                uri = f"sip:{name}@{HOST}:{proxy_port};sidebar={created['id']}"
                # Behind the front the node publishes the sidebar's URI at the front.
                check(created.get("uri") == uri,
                      f"sidebar of {name} published as {created.get('uri')}, not {uri}")
                watcher.to_header = f"<{uri}>"
                branch = "z9hG4bK%08x" % random.getrandbits(32)
                watcher._send(watcher._headers(
                    "SUBSCRIBE", uri, 1, branch,
                    "Event: conference\r\nAccept: application/conference-info+xml\r\n"
                    "Expires: 0\r\nContent-Length: 0\r\n\r\n"))
                reply = None
                for _ in range(10):
                    reply = watcher._receive(0.5)
                    if reply is not None and reply[0] >= 200:
                        break
                check(reply is not None and reply[0] in (200, 202),
                      f"sidebar SUBSCRIBE to {uri}: {reply and reply[0]}")
                contact = watcher._header(reply[1], "contact") + watcher._header(reply[1], "m")
                check(contact and f"{where}" in contact[0],
                      f"sidebar of {name} answered from {contact}, not its room's node {where}")
            finally:
                watcher.close()
            print(f"sidebar of {name} answered by {where}: PASS")
        finally:
            member.bye()
            member.close()


def wait_for(path, text, process, what):
    while remaining() > 0:
        try:
            with open(path, errors="replace") as f:
                if text in f.read():
                    return
        except OSError:
            pass
        check(process.poll() is None, f"{what} exited early:\n" + open(path).read()[-3000:])
        time.sleep(0.05)


def run_load(load, proxy_port, work):
    """chorus-load through the front: its own verification of who hears whom."""
    out = os.path.join(work, "chorus-load.log")
    with open(out, "w") as log:
        result = subprocess.run(
            [load, "--target", f"{HOST}:{proxy_port}", "--rooms", "3", "--participants", "3",
             "--verify", "9", "--duration", "3", "--room-prefix", "load-", "--no-progress"],
            stdout=log, stderr=subprocess.STDOUT, timeout=min(30, remaining()))
    check(result.returncode == 0, "chorus-load through Kamailio failed (exit %d):\n%s"
          % (result.returncode, open(out, errors="replace").read()[-3000:]))


def front_answers(front, log, proxy_port):
    """Waits until Kamailio answers OPTIONS to itself; False if it exited."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((HOST, 0))
    try:
        while True:
            if front.poll() is not None:
                return False
            probe.sendto((f"OPTIONS sip:{HOST}:{proxy_port} SIP/2.0\r\n"
                          f"Via: SIP/2.0/UDP {HOST}:{probe.getsockname()[1]};branch=z9hG4bKprobe\r\n"
                          "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\n"
                          f"To: <sip:{HOST}>\r\nCall-ID: probe\r\nCSeq: 1 OPTIONS\r\n"
                          "Content-Length: 0\r\n\r\n").encode(), (HOST, proxy_port))
            if select.select([probe], [], [], min(0.2, remaining()))[0]:
                check(probe.recv(4096).startswith(b"SIP/2.0 200"), "kamailio OPTIONS not 200")
                return True
    finally:
        probe.close()


def start_front(kamailio, cfg, ds_list, work, processes, proxy_port, name="front", extra=()):
    """Kamailio in the foreground on `proxy_port` (the nodes' cluster.front);
    returns (process, port)."""
    for attempt in range(1):
        runtime = os.path.join(work, f"{name}-run{attempt}")
        os.mkdir(runtime)
        log = os.path.join(work, f"kamailio-{name}.log")
        with open(log, "w") as out:
            front = subprocess.Popen(
                [kamailio, "-f", cfg, "-DD", "-E", "-n", "1", "-Y", runtime, "-w", work,
                 "-P", os.path.join(runtime, "kamailio.pid"),
                 "-A", f"LISTEN_UDP=udp:{HOST}:{proxy_port}",
                 "-A", f"LISTEN_TCP=tcp:{HOST}:{proxy_port}",
                 "-A", f'DISPATCHER_LIST="{ds_list}"',
                 "-A", "PING_INTERVAL=1", "-A", "NODE_TIMEOUT_MS=1000", *extra],
                stdout=out, stderr=subprocess.STDOUT)
        processes.append(front)
        if front_answers(front, log, proxy_port):
            time.sleep(1.5)  # one probe round: both nodes active
            return front, proxy_port
        text = open(log, errors="replace").read()
        check(False, "kamailio exited:\n" + text[-3000:])
    raise Failure("kamailio did not start")


def check_dmq_refuses_strangers(dmq_port):
    """A KDMQ from an address DMQ_ALLOW does not match (127.0.0.2 here) is
    answered 403 and never reaches the DMQ module (Kamailio 5.6.3 crashes a
    worker on this malformed htable message); the front works on (the rest
    of the test goes through it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(min(3, remaining()))
        s.bind(("127.0.0.2", 0))
        s.connect((HOST, dmq_port))
        port = s.getsockname()[1]
        s.sendall((f"KDMQ sip:htable@{HOST}:{dmq_port};transport=tcp SIP/2.0\r\n"
                   f"Via: SIP/2.0/TCP 127.0.0.2:{port};branch=z9hG4bK-dmq{port}\r\n"
                   "Max-Forwards: 1\r\nFrom: <sip:x@127.0.0.2>;tag=1\r\n"
                   "To: <sip:htable@127.0.0.1>\r\nCall-ID: forged-dmq\r\nCSeq: 1 KDMQ\r\n"
                   "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}").encode())
        answer = s.recv(4096).decode(errors="replace")
    check(answer.startswith("SIP/2.0 403"), f"a stranger's KDMQ was answered {answer[:60]!r}")
    print("KDMQ from a stranger refused: PASS")


def dmq_args(own, peer):
    """The -A defines that make a front share its dialog table (DMQ)."""
    return ["-A", f"DMQ_LISTEN=tcp:{HOST}:{own}", "-A", f"DMQ_PORT={own}",
            "-A", f'DMQ_SERVER="sip:{HOST}:{own};transport=tcp"',
            "-A", f'DMQ_PEER="sip:{HOST}:{peer};transport=tcp"',
            "-A", 'DMQ_ALLOW="^127\\.0\\.0\\.1$"']


def main():
    args = sys.argv[1:]
    options = {}
    for flag in ("--kamailio", "--load"):
        if flag in args:
            i = args.index(flag)
            if i + 1 >= len(args):
                print(__doc__)
                return 2
            options[flag] = args[i + 1]
            del args[i:i + 2]
    if len(args) != 2:
        print(__doc__)
        return 2
    chorus, cfg = args
    kamailio = options.get("--kamailio") or shutil.which("kamailio") or "/usr/sbin/kamailio"
    load = options.get("--load")
    if not os.access(kamailio, os.X_OK):
        print("kamailio not installed: skipped")
        return 77
    work = tempfile.mkdtemp(prefix="chorus-kamailio-")
    processes = []
    try:
        # The front's port first: each node names it as cluster.front.
        proxy_port = free_port()
        nodes = []
        admin_ports = []
        for i in range(2):
            for attempt in range(3):
                port = free_port()
                admin_port = free_port(socket.SOCK_STREAM)
                process, log = start_chorus(chorus, port, 43000 + 200 * i, work, f"node{i}",
                                            admin_port, proxy_port)
                processes.append(process)
                try:
                    wait_for(log, "dial sip:", process, "chorus")
                    break
                except Failure:
                    if attempt == 2 or "in use" not in open(log, errors="replace").read():
                        raise
            nodes.append((process, log, f"{HOST}:{port}"))
            admin_ports.append(admin_port)
        node_ports = [int(n[2].rsplit(":", 1)[1]) for n in nodes]
        ds_list = os.path.join(work, "dispatcher.list")
        with open(ds_list, "w") as f:
            for port in node_ports:
                f.write(f"1 sip:{HOST}:{port};transport=udp\n")
        # Two fronts sharing the Call-ID -> node table over DMQ; the nodes
        # name the first as cluster.front, the second takes the REFER below.
        dmq_ports = (free_port(), free_port())
        front, proxy_port = start_front(kamailio, cfg, ds_list, work, processes, proxy_port,
                                        "front1", dmq_args(dmq_ports[0], dmq_ports[1]))
        second_port = free_port()
        start_front(kamailio, cfg, ds_list, work, processes, second_port, "front2",
                    dmq_args(dmq_ports[1], dmq_ports[0]))
        check_dmq_refuses_strangers(dmq_ports[0])

        placement = dial_rooms(ROOMS_BEFORE, proxy_port)
        print("placement:", placement)
        used = set(placement.values())
        check(used <= {n for _, _, n in nodes}, f"rooms landed on unknown nodes {used}")
        check(len(used) == 2, f"every room landed on {used}: rooms are not spread by hashing")
        if load:
            run_load(load, proxy_port, work)
            print("chorus-load through Kamailio: PASS")
        check_cross_node_move(proxy_port, nodes, admin_ports)
        check_refer_move_through_front(proxy_port, nodes, placement, second_port)
        check_sidebar_routing(proxy_port, nodes, admin_ports)

        # Stop the node that holds the first room; it must exit cleanly.
        victim = next(n for n in nodes if n[2] == placement[ROOMS_BEFORE[0]])
        survivor = next(n for n in nodes if n is not victim)
        victim[0].send_signal(signal.SIGTERM)
        check(victim[0].wait(timeout=min(10, remaining())) == 0, "stopped node exited non-zero")
        time.sleep(2.5)  # the prober notices (interval 1 s, threshold 1)

        after = dial_rooms(ROOMS_AFTER + [ROOMS_BEFORE[0]], proxy_port)
        print("after stopping", victim[2], after)
        for room, node in after.items():
            check(node == survivor[2], f"room {room} landed on {node}, not the survivor "
                                       f"{survivor[2]}")
        print("PASS")
        return 0
    except Failure as failure:
        print("FAIL:", failure)
        for name in sorted(os.listdir(work)):
            if name.endswith(".log"):
                print(f"--- {name} (tail)")
                print(open(os.path.join(work, name), errors="replace").read()[-2500:])
        return 1
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
