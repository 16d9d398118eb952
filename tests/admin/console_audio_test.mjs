// The console against a real `chorus`: chorus-load dials two participants
// into one room, the page lists them, a click mutes one, and chorus-load's
// per-interval reports show the other participant stop hearing the muted
// one's tone while the muted one still hears the other. Then, still against
// the real focus, a sidebar is created, filled and dissolved from the page and
// a member moved to another room with its Move button, a sidebar created with
// a main-room level and a member picked at creation, the room merged into
// the other and split back, each step checked in the admin API's JSON as well
// as on the page.
//
//   node console_audio_test.mjs <dir holding node_modules> <chorus> <chorus-load>
//
// Needs the admin listener wired into chorus (options admin.port/admin.token
// → focus::AdminServer on the signalling io_context).

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import assert from "node:assert/strict";

const [nodeDir, chorusPath, loadPath] = process.argv.slice(2);
const { chromium } = createRequire(resolve(nodeDir) + "/")("playwright-core");
const TOKEN = "audio-token-of-at-least-32-characters";
const sipPort = 15060 + Math.floor(Math.random() * 2000) * 2;
const adminPort = sipPort + 1;
const rtpFirst = 42000 + Math.floor(Math.random() * 100) * 100;
const step = (text) => console.log("-- " + text);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), "chorus-admin-"));
const config = join(dir, "chorus.toml");
writeFileSync(config, `[sip]
listen = "127.0.0.1:${sipPort}"
tcp = false
slow_room_prefix = ""
[media]
rtp_ports = "${rtpFirst}-${rtpFirst + 99}"
[admin]
address = "127.0.0.1"
port = ${adminPort}
token = "${TOKEN}"
`);

const children = [];
function start(path, args) {
  const child = spawn(path, args, { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return child;
}

let browser;
const watchdog = setTimeout(() => { console.error("FAIL: overall timeout"); cleanup(); process.exit(1); }, 85000);
function cleanup() {
  for (const c of children) c.kill("SIGTERM");
}

try {
  step("start chorus with the admin listener on " + adminPort);
  start(chorusPath, ["--config", config]);
  const base = `http://127.0.0.1:${adminPort}`;
  let up = false;
  for (let i = 0; i < 100 && !up; ++i) {
    try { up = (await fetch(base + "/metrics")).ok; } catch { await sleep(100); }
  }
  assert.ok(up, "chorus's admin listener never answered (is AdminServer wired into chorus?)");

  step("chorus-load dials two participants into one room");
  const load = start(loadPath, ["--target", `127.0.0.1:${sipPort}`, "--rooms", "1",
    "--participants", "2", "--verify", "2", "--duration", "40", "--report-interval", "0.5",
    "--room-prefix", "admin", "--no-progress", "--local-port-base", String(rtpFirst + 200)]);
  const reports = [];
  createInterface({ input: load.stdout }).on("line", (line) => {
    try { const r = JSON.parse(line); if (r.heard) reports.push({ ...r, at: Date.now() }); } catch { /* summary */ }
  });

  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  const page = await browser.newPage({ bypassCSP: true });
  await page.goto(base + "/");
  await page.fill("#token", TOKEN);
  await page.click("#use-token");

  step("both members are listed");
  await page.waitForFunction(() => document.querySelectorAll("tr.member").length === 2, null, { timeout: 20000 });

  // A report's "heard" has every room tone (a participant's own comes back
  // silent: N-1 mixing). The other's frequency is the one p hears loudest
  // before the mute; p is then followed on that frequency.
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const inWindow = (p, from, to) => reports.filter((r) => r.participant === p && r.at >= from && r.at <= to);
  const level = (p, freq, from, to) => mean(inWindow(p, from, to).map((r) => r.heard[freq] ?? 0));

  step("both hear each other before the mute");
  await sleep(3000);
  const baselineFrom = Date.now() - 2500;
  const baselineTo = Date.now();
  const other = [0, 1].map((p) => {
    const last = inWindow(p, baselineFrom, baselineTo).at(-1);
    assert.ok(last, "no report from participant " + p);
    return Object.entries(last.heard).sort((a, b) => b[1] - a[1])[0][0];
  });
  const before = [0, 1].map((p) => level(p, other[p], baselineFrom, baselineTo));
  console.log("tones:", other, "heard before:", before);
  assert.ok(before[0] > 100 && before[1] > 100, "participants do not hear each other before the mute");

  step("mute the first member from the page");
  const row = page.locator("tr.member").first();
  await row.locator("button.mute").click();
  await page.waitForFunction(() => document.querySelector("tr.member button.unmute"));
  const mutedAt = Date.now();
  await sleep(4000);
  const after = [0, 1].map((p) => level(p, other[p], mutedAt + 1500, Date.now()));
  console.log("heard after:", after);
  const ratios = [after[0] / before[0], after[1] / before[1]];
  console.log("ratios:", ratios);
  // One participant (the other one) stops hearing the muted member; the muted
  // member keeps hearing the other.
  assert.ok(Math.min(...ratios) < 0.1, "nobody stopped hearing the muted member");
  assert.ok(Math.max(...ratios) > 0.5, "the muted member stopped hearing the other as well");

  // The real focus's JSON, as chorusctl sees it.
  const apiRoom = async (name) => {
    const res = await fetch(base + "/api/rooms/" + name, { headers: { Authorization: "Bearer " + TOKEN } });
    assert.equal(res.status, 200, "GET /api/rooms/" + name);
    return res.json();
  };
  const roomName = await page.locator(".room").first().getAttribute("data-room");
  const card = `.room[data-room="${roomName}"]`;
  const ids = await page.locator(`${card} tr.member`).evaluateAll((rows) => rows.map((r) => Number(r.dataset.memberId)));
  const second = ids[1];

  step("create a sidebar in " + roomName + " from the page");
  await page.fill(`${card} .sidebar-name`, "huddle");
  await page.click(`${card} .sidebar-create`);
  await page.locator(`${card} .sidebar .sb-name`).waitFor();
  assert.equal(await page.locator(`${card} .sidebar .sb-name`).innerText(), "huddle");
  const sidebarId = Number(await page.locator(`${card} .sidebar`).getAttribute("data-sidebar-id"));
  assert.deepEqual((await apiRoom(roomName)).sidebars.map((s) => [s.id, s.name, s.members]), [[sidebarId, "huddle", []]]);

  step("put member " + second + " in it");
  const box = `${card} .sidebar[data-sidebar-id="${sidebarId}"]`;
  await page.selectOption(`${box} select.sb-pick`, String(second));
  await page.click(`${box} .sb-add`);
  await page.locator(`${box} .chip[data-member-id="${second}"]`).waitFor();
  await page.waitForFunction(([c, id]) =>
    document.querySelector(`${c} tr.member[data-member-id="${id}"] td.in-sidebar`).textContent.startsWith("huddle"), [card, second]);
  {
    const room = await apiRoom(roomName);
    assert.deepEqual(room.sidebars[0].members, [second]);
    assert.equal(room.members.find((m) => m.id === second).sidebar, sidebarId);
  }

  step("dissolve it");
  await page.click(`${box} .sb-dissolve`);
  await page.locator(box).waitFor({ state: "detached" });
  await page.waitForFunction(([c, id]) =>
    document.querySelector(`${c} tr.member[data-member-id="${id}"] td.in-sidebar`).textContent === "", [card, second]);
  {
    const room = await apiRoom(roomName);
    assert.deepEqual(room.sidebars, []);
    assert.equal(room.members.find((m) => m.id === second).sidebar, 0);
  }

  step("Move member " + second + " to room moved-here");
  await page.fill(`${card} tr.member[data-member-id="${second}"] .move-to`, "moved-here");
  await page.click(`${card} tr.member[data-member-id="${second}"] .move-button`);
  await page.locator(`.room[data-room="moved-here"] tr.member[data-member-id="${second}"]`).waitFor({ timeout: 10000 });
  await page.locator(`${card} tr.member[data-member-id="${second}"]`).waitFor({ state: "detached" });
  assert.equal(await page.textContent("#message"), "");
  assert.deepEqual((await apiRoom("moved-here")).members.map((m) => m.id), [second]);
  assert.ok(!(await apiRoom(roomName)).members.some((m) => m.id === second));
  const first = ids[0];

  step("create a sidebar at -6 dB with member " + first + " picked at creation");
  await page.fill(`${card} .sidebar-name`, "desk");
  await page.fill(`${card} .sidebar-gain`, "-6");
  await page.selectOption(`${card} select.sidebar-members`, [String(first)]);
  await page.click(`${card} .sidebar-create`);
  await page.locator(`${card} .sidebar .chip[data-member-id="${first}"]`).waitFor();
  assert.equal(await page.locator(`${card} .sidebar .sb-gain`).innerText(), "main room at -6 dB");
  assert.deepEqual((await apiRoom(roomName)).sidebars.map((s) => [s.name, s.members, s.main_gain_db]),
                   [["desk", [first], -6]]);

  step("Merge " + roomName + " into moved-here from the page: " + roomName + " ends");
  await page.fill(`${card} .merge-to`, "moved-here");
  await page.click(`${card} .merge-button`);
  await page.locator(`.room[data-room="moved-here"] tr.member[data-member-id="${first}"]`).waitFor({ timeout: 10000 });
  await page.locator(card).waitFor({ state: "detached", timeout: 10000 });
  assert.equal(await page.textContent("#report .report-title"), `merge ${roomName} \u2192 moved-here: moving 1 to moved-here`);
  assert.equal(await page.locator("#report .report-stayed").count(), 0);
  assert.deepEqual((await apiRoom("moved-here")).members.map((m) => m.id).sort(), [first, second].sort());

  step("Split member " + first + " back into " + roomName);
  const movedHere = '.room[data-room="moved-here"]';
  await page.check(`${movedHere} .split-member[value="${first}"]`);
  await page.fill(`${movedHere} .split-to`, roomName);
  await page.click(`${movedHere} .split-button`);
  await page.locator(`${card} tr.member[data-member-id="${first}"]`).waitFor({ timeout: 10000 });
  assert.equal(await page.textContent("#report .report-title"), `split moved-here \u2192 ${roomName}: moving 1 to ${roomName}`);
  assert.equal(await page.textContent("#message"), "");
  assert.deepEqual((await apiRoom(roomName)).members.map((m) => m.id), [first]);
  assert.deepEqual((await apiRoom("moved-here")).members.map((m) => m.id), [second]);
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
