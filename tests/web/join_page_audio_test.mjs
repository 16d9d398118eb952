// The web phone page with audio (issue #18's evidence): browser media end
// to end (ICE-lite, DTLS-SRTP, the UDP/TLS/RTP/SAVPF answer).
//
// Chromium's fake microphone plays a 1000 Hz tone; two chorus-load members
// send 350 and 500 Hz. Asserted:
// - the browser hears both SIP tones (WebAudio Goertzel on the received
//   stream: chorusTest.goertzel) and not its own;
// - each SIP member hears the browser's tone and never its own;
// - the roster shows three members with a talking indicator;
// - mute on the page silences the browser for the others;
// - hang-up releases the member (the admin API's room count drops to two).
//
//   node join_page_audio_test.mjs <node dir> <chorus> <chorus-load> <assets dir>

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { cleanup, launchBrowser, sleep, startChorus, startLoad, step, waitFor, watchPage }
  from "./web_test_support.mjs";

const [nodeDir, chorusPath, loadPath, assetsDir] = process.argv.slice(2);
const ROOM = "webaudio0";
const BROWSER_HZ = 1000;
const SIP_HZ = [350, 500]; // chorus-load's tones for participants 0 and 1

let browser;
const watchdog = setTimeout(() => {
  console.error("FAIL: overall timeout");
  cleanup();
  process.exit(1);
}, 130000);

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

try {
  step("chorus with [web], WSS and the admin API on loopback");
  const { ports, rtpFirst, base, dir } = await startChorus(chorusPath, assetsDir, { admin: true });
  const members = async () => {
    const r = await fetch(`http://127.0.0.1:${ports.admin}/api/rooms`,
      { headers: { Authorization: "Bearer web-test-token-of-at-least-32-chars" } });
    const body = await r.json();
    const rooms = Array.isArray(body) ? body : body.rooms || [];
    const room = rooms.find((x) => (x.room || x.name) === ROOM);
    return room ? (room.members || []).length : 0;
  };

  step("two SIP members with their tones, reporting what they hear");
  const load = startLoad(loadPath, ports, rtpFirst + 200,
    ["--participants", "2", "--verify", "2", "--duration", "80", "--report-interval", "0.5",
      "--room-prefix", "webaudio", "--watch-hz", String(BROWSER_HZ)]);
  await sleep(2000);

  step("the browser's fake microphone plays " + BROWSER_HZ + " Hz");
  const wav = join(dir, "tone.wav");
  execFileSync("sox", ["-n", "-r", "48000", "-c", "1", "-b", "16", wav, "synth", "120", "sine",
    String(BROWSER_HZ), "vol", "0.5"]);
  let context;
  ({ browser, context } = await launchBrowser(nodeDir, [`--use-file-for-fake-audio-capture=${wav}`]));
  const page = await context.newPage();
  const problems = watchPage(page);
  await page.goto(`${base}/join/${ROOM}?test=1`);
  await waitFor(page, () => !document.getElementById("join").disabled);
  await page.fill("#name", "Browser");
  await page.click("#join");
  await waitFor(page, () => ["in-call", "failed"].includes(window.chorusTest.state().phase),
    undefined, 20000);
  const joined = await page.evaluate(() => window.chorusTest.state());
  assert.equal(joined.phase, "in-call",
    `the call failed: ${joined.callStatus} ${joined.callReason} ${joined.error}`);

  step("the browser hears both SIP tones and not its own");
  await sleep(4000);
  const heard = {};
  for (const hz of [...SIP_HZ, BROWSER_HZ]) {
    const samples = [];
    for (let i = 0; i < 10; i++) {
      samples.push(await page.evaluate((f) => window.chorusTest.goertzel(f), hz));
      await sleep(100);
    }
    heard[hz] = mean(samples);
  }
  console.log("browser hears:", heard);
  for (const hz of SIP_HZ) assert.ok(heard[hz] > 0.01, `browser does not hear ${hz} Hz`);
  assert.ok(heard[BROWSER_HZ] < heard[SIP_HZ[0]] / 10, "the browser hears its own tone");

  step("each SIP member hears the browser and never itself");
  const level = (p, hz, from, to) => mean(load.reports
    .filter((r) => r.participant === p && r.at >= from && r.at <= to)
    .map((r) => r.heard[String(hz)] ?? 0));
  const beforeFrom = Date.now() - 3000;
  const beforeTo = Date.now();
  const before = [0, 1].map((p) => level(p, BROWSER_HZ, beforeFrom, beforeTo));
  console.log("SIP members hear the browser:", before);
  for (const p of [0, 1]) {
    assert.ok(before[p] > 100, `participant ${p} does not hear the browser`);
    assert.ok(level(p, SIP_HZ[p], beforeFrom, beforeTo) < 50, `participant ${p} hears itself`);
    assert.ok(level(p, SIP_HZ[1 - p], beforeFrom, beforeTo) > 100, `participant ${p} misses the other`);
  }

  step("the roster shows three members and a talker");
  await waitFor(page, () => window.chorusTest.roster().length === 3, undefined, 10000);
  await waitFor(page, () => window.chorusTest.roster().filter((m) => m.talking).length >= 1, undefined, 10000);
  assert.equal(await page.locator("#roster li.member").count(), 3);

  step("mute silences the browser for the others");
  await page.click("#mute");
  const mutedAt = Date.now();
  await sleep(4000);
  const after = [0, 1].map((p) => level(p, BROWSER_HZ, mutedAt + 1500, Date.now()));
  console.log("after mute:", after);
  for (const p of [0, 1]) assert.ok(after[p] < before[p] / 10, `participant ${p} still hears the browser`);
  // The focus was told too (self-mute action URN): the roster says muted.
  await waitFor(page, () =>
    window.chorusTest.roster().some((m) => m.status === "muted-via-focus"), undefined, 5000);

  step("hang-up releases the member");
  assert.equal(await members(), 3);
  await page.click("#hangup");
  await waitFor(page, () => window.chorusTest.state().phase === "ended");
  let left = 3;
  for (let i = 0; i < 50 && left !== 2; i++) {
    await sleep(200);
    left = await members();
  }
  assert.equal(left, 2, "the browser is still a member after hang-up");

  assert.deepEqual(problems.filter((p) => /Content Security Policy|pageerror/.test(p)), []);
  load.kill("SIGTERM");
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
