#!/usr/bin/env python3
"""Captures firefox-esr's WebRTC offer: serves capture_offer.html on
127.0.0.1, runs `firefox-esr --headless` on it with fake media devices in a
throw-away profile, and prints what the page POSTs back
("<user agent>\\n<offer SDP>")."""
import http.server, os, subprocess, sys, tempfile, threading

here = os.path.dirname(os.path.abspath(__file__))
result = {}
done = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(os.path.join(here, "capture_offer.html"), "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        result["body"] = self.rfile.read(length).decode()
        self.send_response(204)
        self.end_headers()
        done.set()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]
with tempfile.TemporaryDirectory() as profile:
    with open(os.path.join(profile, "user.js"), "w") as f:
        f.write('user_pref("media.navigator.streams.fake", true);\n'
                'user_pref("media.navigator.permission.disabled", true);\n')
    url = f"http://127.0.0.1:{port}/capture_offer.html?post=http://127.0.0.1:{port}/offer"
    browser = subprocess.Popen(["firefox-esr", "--headless", "--no-remote", "--profile", profile, url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ok = done.wait(60)
    finally:
        browser.terminate()
        browser.wait(10)
server.shutdown()
if not ok:
    sys.exit("no offer within 60 s")
sys.stdout.write(result["body"])
