// The web phone page in headless Chromium against a real chorus (issue #18),
// and the browser's side of the offer-answer: the page at
// https://127.0.0.1:<web>/join/<room> loads JsSIP under its
// Content-Security-Policy, connects over WSS, SUBSCRIBEs to the room's
// conference package and renders the roster from the full NOTIFY (a
// chorus-load member, talking), then from partial NOTIFYs as a second member
// comes and goes; Join sends an INVITE with a UDP/TLS/RTP/SAVPF offer, the
// call is answered, Chromium accepts the answer (ICE and DTLS connect), its
// live offer is saved, and the page counts itself in the roster. The
// listener serves nothing else (no admin API, no traversal).
//
//   node join_page_browser_test.mjs <node dir> <chorus> <chorus-load> <assets dir>

import assert from "node:assert/strict";
import { readdirSync, unlinkSync, writeFileSync } from "node:fs";
import { cleanup, launchBrowser, sleep, startChorus, startLoad, step, waitFor, watchPage }
  from "./web_test_support.mjs";

const [nodeDir, chorusPath, loadPath, assetsDir] = process.argv.slice(2);
const ROOM = "webtest0";

let browser;
const watchdog = setTimeout(() => {
  console.error("FAIL: overall timeout");
  cleanup();
  process.exit(1);
}, 100000);

try {
  step("chorus with [web] on HTTPS and WSS on loopback");
  const { ports, rtpFirst, base } = await startChorus(chorusPath, assetsDir);

  step("the listener serves the page and its assets only");
  {
    // Node's fetch refuses the self-signed certificate; Chromium's request
    // API (certificate errors ignored) does the HTTP checks instead.
    ({ browser } = await launchBrowser(nodeDir));
    const api = await browser.newContext({ ignoreHTTPSErrors: true });
    const get = (path, method = "GET") => api.request.fetch(base + path, { method, maxRedirects: 0 });
    const page = await get(`/join/${ROOM}`);
    assert.equal(page.status(), 200);
    assert.match(page.headers()["content-type"], /^text\/html/);
    assert.match(page.headers()["content-security-policy"], /script-src 'self'/);
    assert.equal((await get("/web/jssip.min.js")).headers()["content-type"],
      "text/javascript; charset=utf-8");
    const config = await (await get("/web/config.json")).json();
    assert.equal(config.wss_port, ports.wss);
    for (const path of ["/api/rooms", "/metrics", "/", "/join/..%2f..%2fetc%2fpasswd"]) {
      assert.equal((await get(path)).status(), 404, path);
    }
    assert.equal((await get(`/join/${ROOM}`, "POST")).status(), 405);
    await api.close();
  }

  step("a SIP member (chorus-load) is in the room");
  const first = startLoad(loadPath, ports, rtpFirst + 200,
    ["--participants", "1", "--verify", "0", "--duration", "70", "--room-prefix", "webtest"]);
  await sleep(1500);

  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const problems = watchPage(page);
  const websockets = [];
  page.on("websocket", (ws) => {
    const frames = [];
    ws.on("framesent", (f) => frames.push(String(f.payload)));
    websockets.push({ url: ws.url(), frames });
  });

  step("the page loads JsSIP and its settings");
  await page.goto(`${base}/join/${ROOM}?test=1`);
  await waitFor(page, () => typeof JsSIP === "object" && typeof JsSIP.UA === "function");
  await waitFor(page, () => !document.getElementById("join").disabled);
  assert.equal(await page.inputValue("#room"), ROOM);
  assert.equal(await page.title(), `Chorus · ${ROOM}`);

  step("Join: WSS, SUBSCRIBE Event: conference, INVITE");
  await page.fill("#name", "Web Tester");
  await page.click("#join");
  await waitFor(page, () => window.chorusTest.state().connected, undefined, 15000);
  assert.equal(websockets.length, 1);
  assert.equal(websockets[0].url, `wss://127.0.0.1:${ports.wss}/`);
  await waitFor(page, () => window.chorusTest.state().subscription === "active", undefined, 10000);
  const sent = () => websockets[0].frames;
  assert.ok(sent().some((f) => f.startsWith(`SUBSCRIBE sip:${ROOM}@127.0.0.1 SIP/2.0`) &&
    /\r\nEvent: conference\r\n/i.test(f)), "no SUBSCRIBE for the conference package");

  step("the roster shows the SIP member from the full NOTIFY, talking");
  await waitFor(page, () => window.chorusTest.roster().length >= 1, undefined, 10000);
  const roster = await page.evaluate(() => window.chorusTest.roster());
  console.log("roster:", JSON.stringify(roster));
  assert.match(roster[0].user, /^sip:/);
  await page.locator("#roster li.member").first().waitFor();
  // chorus-load sends a tone: the chorus:talking extension turns on.
  await waitFor(page, () => window.chorusTest.roster().some((m) => m.talking), undefined, 10000);
  await page.locator("#roster li.member .talking.on").first().waitFor();

  step("the INVITE is answered and the page reports the outcome");
  // The INVITE leaves once getUserMedia has given the (fake) microphone.
  for (let i = 0; i < 100 && !sent().some((f) => f.startsWith("INVITE ")); i++) await sleep(100);
  assert.ok(sent().some((f) => f.startsWith(`INVITE sip:${ROOM}@127.0.0.1 SIP/2.0`)), "no INVITE");
  const invite = sent().find((f) => f.startsWith("INVITE "));
  assert.match(invite, /m=audio \d+ UDP\/TLS\/RTP\/SAVPF/);
  assert.doesNotMatch(invite, /m=video/);
  await waitFor(page, () => ["failed", "in-call"].includes(window.chorusTest.state().phase), undefined, 20000);
  const outcome = await page.evaluate(() => window.chorusTest.state());
  console.log("call outcome:", outcome.phase, outcome.callStatus, outcome.callReason);
  // Browser media is answered (ICE-lite, DTLS-SRTP): the page is in the call
  // and counts itself in the roster.
  assert.equal(outcome.phase, "in-call", `the call failed: ${outcome.callStatus} ${outcome.callReason}`);
  const selfInRoster = 1;

  step("Chromium's live offer is captured, answered, and the answer accepted");
  // The offer as this Chromium sent it (the INVITE's body over the WebSocket
  // is the peer connection's local description), and the answer it took:
  // the offer-answer is checked here on the live exchange, and the offer is
  // saved beside the test's output (CHORUS_WEB_CAPTURE_DIR); with
  // CHORUS_UPDATE_CAPTURES=1 it replaces the committed capture.
  await waitFor(page, () => window.chorusTest.peer()?.connectionState === "connected",
    undefined, 10000);
  const peer = await page.evaluate(() => window.chorusTest.peer());
  assert.equal(peer.signalingState, "stable");
  assert.equal(peer.answerType, "answer");
  assert.ok(["connected", "completed"].includes(peer.iceConnectionState), peer.iceConnectionState);
  const crlf = (text) => text.replace(/\r?\n/g, "\r\n");
  const body = invite.slice(invite.indexOf("\r\n\r\n") + 4);
  assert.equal(crlf(body), crlf(peer.offer), "the INVITE's body is not the browser's offer");
  for (const line of [/^a=ice-lite$/m, /^a=fingerprint:sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/m,
    /^a=setup:passive$/m, /^a=group:BUNDLE \S+$/m, /^a=rtcp-mux$/m, /^a=rtpmap:\d+ opus\/48000\/2$/m,
    /^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host/m, /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF /m]) {
    assert.match(peer.answer.replace(/\r/g, ""), line, "the answer lacks " + line);
  }
  const version = browser.version();
  const captureDir = process.env.CHORUS_WEB_CAPTURE_DIR || ".";
  const captured = `${captureDir}/chromium-${version}-live.sdp`;
  writeFileSync(captured, crlf(peer.offer));
  console.log(`captured Chromium ${version}'s offer: ${captured}`);
  if (process.env.CHORUS_UPDATE_CAPTURES === "1") {
    // The page's offer (audio only) beside the capture page's (with video and
    // a data channel); the signalling tests answer both.
    const testdata = new URL("../signaling/testdata/webrtc/", import.meta.url).pathname;
    for (const old of readdirSync(testdata).filter((f) => /^chromium-.*-page\.sdp$/.test(f))) {
      unlinkSync(testdata + old);
    }
    writeFileSync(`${testdata}chromium-${version}-page.sdp`, crlf(peer.offer));
    console.log(`updated ${testdata}chromium-${version}-page.sdp`);
  }
  await waitFor(page, () => window.chorusTest.roster().length === 2, undefined, 10000);

  step("partial NOTIFYs: a second member joins, then leaves");
  const base_count = 1 + selfInRoster;
  startLoad(loadPath, ports, rtpFirst + 300,
    ["--participants", "1", "--verify", "0", "--duration", "3", "--room-prefix", "webtest"]);
  await waitFor(page, (n) => window.chorusTest.roster().length === n + 1, base_count, 10000);
  assert.equal(await page.locator("#roster li.member").count(), base_count + 1);
  assert.equal(await page.locator("#count").innerText(), String(base_count + 1));
  const versions = await page.evaluate(() => window.chorusTest.state().version);
  await waitFor(page, (n) => window.chorusTest.roster().length === n, base_count, 15000);
  const after = await page.evaluate(() => window.chorusTest.state());
  assert.ok(after.version > versions, "the leave came as no newer version");
  assert.ok(after.notifies >= 3, "expected a full and partial NOTIFYs");

  if (outcome.phase === "in-call") {
    step("hang up");
    await page.click("#hangup");
    await waitFor(page, () => window.chorusTest.state().phase === "ended");
  }

  const csp = problems.filter((p) => /Content Security Policy|Refused to/.test(p));
  assert.deepEqual(csp, [], "CSP violations");
  // A refused INVITE logs nothing as an error in the page itself.
  assert.deepEqual(problems.filter((p) => p.startsWith("pageerror")), []);
  first.kill("SIGTERM");
  console.log("PASS");
  process.exitCode = 0;
} catch (error) {
  console.error("FAIL:", error);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
  cleanup();
}
