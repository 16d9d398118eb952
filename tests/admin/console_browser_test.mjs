// The web console in headless Chromium (Debian `chromium`, driven by
// playwright-core) against the admin listener of tests/admin/admin_fixture:
// the token is entered once, members appear, the talking indicator and level
// meter follow the event stream, and mute / unmute / dial-out / kick buttons
// reach the Control and come back as events. Waiting callers (3, 4, 5) alone
// get Admit / Refuse / Pick up, and each reaches the Control (the fixture
// prints it) and changes the page. Sidebars are created, filled, emptied and
// dissolved from the page (one with a main-room level and members chosen at
// creation), a member moves to another room with its Move button, a room is
// merged into another and split back (the page names who moved and who
// stayed; refusals show the API's text), and each step is checked in the
// admin API's JSON as well as on the page; the recording state stays shown
// through it. A wrong token is refused once, not retried, and the token
// asked for again; a 503 for the event ticket is retried.
//
//   node console_browser_test.mjs <dir holding node_modules> <admin_fixture>

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import assert from "node:assert/strict";
import { resolve } from "node:path";

const [nodeDir, fixturePath] = process.argv.slice(2);
const { chromium } = createRequire(resolve(nodeDir) + "/")("playwright-core");
const TOKEN = "console-token";
const step = (text) => console.log("-- " + text);

const fixture = spawn(fixturePath, [TOKEN], { stdio: ["pipe", "pipe", "inherit"] });
const lines = [];
let lineWaiters = [];
createInterface({ input: fixture.stdout }).on("line", (line) => {
  lines.push(line);
  lineWaiters = lineWaiters.filter((w) => !w(line));
});
function waitLine(predicate, ms = 10000) {
  const seen = lines.find(predicate);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("fixture never printed the expected line")), ms);
    lineWaiters.push((line) => {
      if (!predicate(line)) return false;
      clearTimeout(timer);
      resolve(line);
      return true;
    });
  });
}

let browser;
const watchdog = setTimeout(() => { console.error("FAIL: overall timeout"); process.exit(1); }, 75000);
try {
  const port = (await waitLine((l) => l.startsWith("port "))).split(" ")[1];
  const url = `http://127.0.0.1:${port}/`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });

  step("a wrong token is refused once and the token asked again, not retried");
  {
    const page = await browser.newPage({ bypassCSP: true });
    const apiRequests = [];
    page.on("request", (r) => {
      const path = new URL(r.url()).pathname;
      if (path.startsWith("/api/")) apiRequests.push(r.method() + " " + path);
    });
    await page.goto(url);
    await page.fill("#token", "not-the-token");
    await page.click("#use-token");
    await page.waitForFunction(() => document.getElementById("message").textContent.includes("bearer token"));
    assert.equal(await page.locator("tr.member").count(), 0);
    // Retrying would count toward the address's lockout: the old backoff
    // asked again after 0.5, 1 and 2 s.
    await page.waitForTimeout(4000);
    assert.deepEqual(apiRequests, ["POST /api/events/ticket"]);
    assert.equal(await page.locator("#status").innerText(), "enter the admin token");
    assert.match(await page.locator("#message").innerText(), /enter the admin token again/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("chorus-token")), null);
    assert.equal(await page.evaluate(() => document.activeElement.id), "token");
    // The right token then gets in from the same page.
    await page.fill("#token", TOKEN);
    await page.click("#use-token");
    await page.waitForFunction(() => document.getElementById("status").textContent === "live");
    await page.close();
  }

  step("a 503 for the event ticket is retried until it passes");
  {
    const page = await browser.newPage({ bypassCSP: true });
    let busy = 0;
    await page.route("**/api/events/ticket", (route) => {
      if (busy >= 2) return route.continue();
      busy += 1;
      return route.fulfill({ status: 503, contentType: "application/json", body: '{"error":"busy"}' });
    });
    await page.goto(url);
    await page.fill("#token", TOKEN);
    await page.click("#use-token");
    await page.waitForFunction(() => document.getElementById("status").textContent === "live");
    assert.equal(busy, 2);
    await page.close();
  }

  const page = await browser.newPage({ bypassCSP: true });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // confirm() (kick) is accepted; prompt() (Pick up) gets promptAnswer.
  const prompts = [];
  let promptAnswer = null;
  page.on("dialog", (d) => {
    if (d.type() !== "prompt") return d.accept();
    prompts.push(d.message());
    return promptAnswer === null ? d.dismiss() : d.accept(promptAnswer);
  });
  const pickupRequests = [];
  const sidebarRequests = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/pickup")) pickupRequests.push(r.postData());
    if (r.url().endsWith("/sidebars") && r.method() === "POST") sidebarRequests.push(JSON.parse(r.postData()));
  });
  await page.goto(url);
  assert.equal(await page.title(), "Chorus console");

  step("token entered once: the event stream goes live and lists the members");
  await page.fill("#token", TOKEN);
  await page.click("#use-token");
  await page.waitForFunction(() => document.getElementById("status").textContent === "live");
  const alice = page.locator('tr.member[data-member-id="1"]');
  const bob = page.locator('tr.member[data-member-id="2"]');
  await alice.waitFor();
  await bob.waitFor();
  assert.match(await alice.locator(".name").innerText(), /Alice\s+sip:alice@127\.0\.0\.1/);
  assert.match(await bob.locator(".name").innerText(), /Bob\s+sip:bob@127\.0\.0\.1/);
  assert.equal(await alice.locator(".codec").innerText(), "opus/48000");
  assert.equal(await page.locator("tr.member").count(), 5);
  // The token stays in this tab's sessionStorage, not in the input.
  assert.equal(await page.evaluate(() => sessionStorage.getItem("chorus-token")), TOKEN);
  assert.equal(await page.inputValue("#token"), "");

  step("waiting callers have Admit / Refuse / Pick up, connected members do not");
  const waitingButtons = (id) => page.locator(
    `tr.member[data-member-id="${id}"] button.admit, tr.member[data-member-id="${id}"] button.refuse, ` +
    `tr.member[data-member-id="${id}"] button.pickup`);
  for (const id of [3, 4, 5]) {
    const row = page.locator(`tr.member[data-member-id="${id}"]`);
    await row.waitFor();
    assert.equal(await row.locator(".status").innerText(), "pending");
    assert.equal(await row.locator("button.admit").innerText(), "Admit");
    assert.equal(await row.locator("button.refuse").innerText(), "Refuse");
    assert.equal(await row.locator("button.pickup").innerText(), "Pick up");
  }
  for (const id of [1, 2]) assert.equal(await waitingButtons(id).count(), 0);
  // Only members in the room can move (a waiting caller is refused 481).
  for (const id of [1, 2]) assert.equal(await page.locator(`tr.member[data-member-id="${id}"] button.move-button`).count(), 1);
  for (const id of [3, 4, 5]) assert.equal(await page.locator(`tr.member[data-member-id="${id}"] button.move-button`).count(), 0);

  // The server side, as chorusctl and any other client see it.
  const apiGet = async (path) => {
    const res = await fetch(url + path, { headers: { Authorization: "Bearer " + TOKEN } });
    assert.equal(res.status, 200, "GET /" + path);
    return res.json();
  };
  const apiRoom = (name) => apiGet("api/rooms/" + name);
  // Every room with its members' ids, in the API's order.
  const apiRooms = async () => Object.fromEntries((await apiGet("api/rooms")).map((r) => [r.room, r.members.map((m) => m.id)]));
  const demo = ".room[data-room=demo]";
  const annex = ".room[data-room=annex]";
  const message = (text) => page.waitForFunction((t) => document.getElementById("message").textContent === t, text);
  const mergesAndSplits = () => lines.filter((l) => /^(merge|split) /.test(l));

  step("Merge without a room says so; a refused merge shows the API's text and moves nobody");
  await page.click(`${demo} .merge-button`);
  await message("type the room to merge demo into");
  await page.fill(`${demo} .merge-to`, "locked");
  await page.click(`${demo} .merge-button`);
  await message("PIN required");
  await page.fill(`${demo} .merge-pin`, "0000");
  await page.click(`${demo} .merge-button`);
  await message("wrong PIN");
  assert.equal(await page.textContent("#report"), "");
  assert.deepEqual(mergesAndSplits(), []);
  assert.deepEqual(await apiRooms(), { demo: [1, 2, 3, 4, 5] });

  step("Merge demo into annex: Alice and Bob move, the waiting callers stay, the page names them");
  await page.fill(`${demo} .merge-to`, "annex");
  await page.fill(`${demo} .merge-pin`, "");
  await page.click(`${demo} .merge-button`);
  await waitLine((l) => l === "merge 0 annex -");
  for (const id of [1, 2]) {
    await page.locator(`${annex} tr.member[data-member-id="${id}"]`).waitFor();
    await page.locator(`${demo} tr.member[data-member-id="${id}"]`).waitFor({ state: "detached" });
  }
  await page.locator("#report .report-moving").waitFor();
  assert.equal(await page.textContent("#report .report-title"), "merge demo \u2192 annex: moving 2 to annex");
  assert.equal(await page.textContent("#report .report-moving"), "moving: Alice #1, Bob #2");
  assert.equal(await page.textContent("#report .report-stayed"),
               "stayed: sip:dave@127.0.0.1 #3 (409 not admitted yet), sip:erin@127.0.0.1 #4 (409 not admitted yet), " +
               "sip:frank@127.0.0.1 #5 (409 not admitted yet)");
  assert.equal(await page.textContent("#message"), "");
  assert.equal(await page.inputValue(`${demo} .merge-to`), "");
  assert.equal(await page.locator(`${annex} h2`).innerText(), "annex (2)");
  assert.equal(await page.locator(`${demo} h2`).innerText(), "demo (3)");
  // Waiting callers cannot move: demo has nobody to tick for a split.
  assert.equal(await page.locator(`${demo} .split-member`).count(), 0);
  assert.deepEqual(await apiRooms(), { demo: [3, 4, 5], annex: [1, 2] });

  step("Split: nobody ticked says so; a refused split moves nobody; Alice and Bob split back into demo");
  await page.fill(`${annex} .split-to`, "demo");
  await page.click(`${annex} .split-button`);
  await message("tick the members to split off");
  await page.check(`${annex} .split-member[value="1"]`);
  await page.check(`${annex} .split-member[value="2"]`);
  await page.fill(`${annex} .split-to`, "locked");
  await page.click(`${annex} .split-button`);
  await message("PIN required");
  assert.equal(await page.textContent("#report"), "");
  assert.deepEqual(mergesAndSplits(), ["merge 0 annex -"]);
  assert.deepEqual(await apiRooms(), { demo: [3, 4, 5], annex: [1, 2] });
  await page.fill(`${annex} .split-to`, "demo");
  await page.click(`${annex} .split-button`);
  await waitLine((l) => l === "split 0 demo 1,2");
  // annex, left empty, ends: its card goes.
  await page.locator(annex).waitFor({ state: "detached" });
  for (const id of [1, 2]) await page.locator(`${demo} tr.member[data-member-id="${id}"]`).waitFor();
  await page.locator("#report .report-moving").waitFor();
  assert.equal(await page.textContent("#report .report-title"), "split annex \u2192 demo: moving 2 to demo");
  assert.equal(await page.textContent("#report .report-moving"), "moving: Alice #1, Bob #2");
  assert.equal(await page.locator("#report .report-stayed").count(), 0);
  assert.equal(await page.textContent("#message"), "");
  assert.deepEqual(await apiRooms(), { demo: [3, 4, 5, 1, 2] });
  assert.equal(await page.locator("tr.member").count(), 5);

  step("Alice talks: talking indicator on, level meter moves");
  await page.waitForFunction(() => document.getElementById("talk-1")?.classList.contains("on"));
  await page.waitForFunction(() => parseFloat(document.getElementById("level-1")?.style.width) > 50);
  assert.equal(await page.evaluate(() => document.getElementById("talk-2").classList.contains("on")), false);

  step("mute Alice from the page");
  await alice.locator("button.mute").click();
  await waitLine((l) => l === "mute 1 1");
  await page.waitForFunction(() => {
    const row = document.querySelector('tr.member[data-member-id="1"]');
    return row && row.querySelector("button.unmute") && row.textContent.includes("muted");
  });
  await page.waitForFunction(() => !document.getElementById("talk-1").classList.contains("on"));
  await page.waitForFunction(() => parseFloat(document.getElementById("level-1").style.width) === 0);

  step("unmute");
  await page.locator('tr.member[data-member-id="1"] button.unmute').click();
  await waitLine((l) => l === "mute 1 0");
  await page.waitForFunction(() => document.querySelector('tr.member[data-member-id="1"] button.mute'));

  step("dial out, then kick the new member");
  await page.fill(".room[data-room=demo] .dial-uri", "sip:carol@127.0.0.1");
  await page.click(".room[data-room=demo] .dial-button");
  const carol = page.locator('tr.member[data-member-id="6"]');
  await carol.waitFor();
  assert.match(await carol.locator(".name").innerText(), /sip:carol@127\.0\.0\.1/);
  await carol.locator("button.kick").click();
  await carol.waitFor({ state: "detached" });
  assert.equal(await page.locator("tr.member").count(), 5);

  step("Admit the waiting caller 3: it is connected and loses the waiting buttons");
  await page.click('tr.member[data-member-id="3"] button.admit');
  await waitLine((l) => l === "admit 3");
  await page.waitForFunction(() => {
    const row = document.querySelector('tr.member[data-member-id="3"]');
    return row && row.querySelector(".status").textContent === "connected";
  });
  assert.equal(await waitingButtons(3).count(), 0);
  assert.equal(await page.locator('tr.member[data-member-id="3"] button.mute').count(), 1);
  assert.equal(await waitingButtons(4).count(), 3);

  step("Refuse the waiting caller 4: it leaves the page");
  await page.click('tr.member[data-member-id="4"] button.refuse');
  await waitLine((l) => l === "refuse 4");
  await page.locator('tr.member[data-member-id="4"]').waitFor({ state: "detached" });
  assert.equal(await page.locator("tr.member").count(), 4);

  step("Pick up the waiting caller 5: cancelling the prompt sends nothing, an answer sends it there");
  await page.click('tr.member[data-member-id="5"] button.pickup');
  assert.equal(prompts.length, 1);
  promptAnswer = "sip:desk@127.0.0.1";
  await page.click('tr.member[data-member-id="5"] button.pickup');
  await waitLine((l) => l === "pickup 5 sip:desk@127.0.0.1");
  await page.locator('tr.member[data-member-id="5"]').waitFor({ state: "detached" });
  assert.equal(prompts.length, 2);
  assert.deepEqual(pickupRequests.map((b) => JSON.parse(b)), [{ uri: "sip:desk@127.0.0.1" }]);
  assert.match(prompts[1], /sip: URI/);
  assert.equal(await page.locator("tr.member").count(), 3);
  assert.equal(await page.locator(".room[data-room=demo] h2").innerText(), "demo (3)");
  // Each button reached the Control once, and nothing else did.
  assert.deepEqual(lines.filter((l) => /^(admit|refuse|pickup) /.test(l)),
                   ["admit 3", "refuse 4", "pickup 5 sip:desk@127.0.0.1"]);

  step("Record, then Stop recording: the room says so in between");
  const demoTitle = () => page.locator(".room[data-room=demo] h2").innerText();
  await page.click(".room[data-room=demo] .record-button");
  await waitLine((l) => l === "record-start 0");
  await page.waitForFunction(() =>
    document.querySelector(".room[data-room=demo] h2").textContent.includes("recording"));
  assert.match(await demoTitle(), /recording/);
  assert.equal(await page.locator(".room[data-room=demo] .record-button").innerText(), "Stop recording");
  await page.click(".room[data-room=demo] .record-button");
  await waitLine((l) => l === "record-stop 0");
  await page.waitForFunction(() =>
    !document.querySelector(".room[data-room=demo] h2").textContent.includes("recording"));
  assert.equal(await page.locator(".room[data-room=demo] .record-button").innerText(), "Record");

  step("an API refusal is shown");
  await page.selectOption('tr.member[data-member-id="2"] select.role', "whisper");
  await page.evaluate(() => {
    // Point the whisper at a member that does not exist: the API answers 409.
    const select = document.querySelector('tr.member[data-member-id="2"] select.target');
    select.append(new Option("ghost", "77"));
    select.value = "77";
  });
  await page.click('tr.member[data-member-id="2"] button.set-role');
  await page.waitForFunction(() => document.getElementById("message").textContent.includes("no such whisper target"));

  const sidebarBox = `${demo} .sidebar[data-sidebar-id="1"]`;
  const sidebarCell = (id) => page.locator(`${demo} tr.member[data-member-id="${id}"] td.in-sidebar`);

  step("recording on while sidebars change");
  await page.click(`${demo} .record-button`);
  await waitLine((l) => l === "record-start 0");
  await page.waitForFunction(() => document.querySelector(".room[data-room=demo] h2").textContent.includes("recording"));

  step("create a whispering sidebar from the console; a half-typed move target survives the redraw");
  await page.fill(`${demo} tr.member[data-member-id="1"] .move-to`, "sal");
  await page.fill(`${demo} .sidebar-name`, "huddle");
  await page.check(`${demo} .sidebar-whisper`);
  await page.click(`${demo} .sidebar-create`);
  await waitLine((l) => l === "sidebar-create 1 huddle whisper");
  await page.locator(sidebarBox).waitFor();
  assert.equal(await page.locator(`${sidebarBox} .sb-name`).innerText(), "huddle");
  assert.equal(await page.locator(`${sidebarBox} .sb-id`).innerText(), "#1");
  assert.equal(await page.locator(`${sidebarBox} .sb-whisper`).count(), 1);
  assert.equal(await page.locator(`${sidebarBox} .chip`).count(), 0);
  assert.equal(await page.locator(`${sidebarBox} .sb-gain`).innerText(), "main room at -12 dB");
  // Nothing typed for the level and nobody picked: neither is sent.
  assert.deepEqual(sidebarRequests, [{ name: "huddle", whisper_main: true }]);
  assert.equal(await page.inputValue(`${demo} .sidebar-name`), "");
  assert.equal(await page.isChecked(`${demo} .sidebar-whisper`), false);
  assert.equal(await page.inputValue(`${demo} tr.member[data-member-id="1"] .move-to`), "sal");
  {
    const room = await apiRoom("demo");
    assert.deepEqual(room.sidebars.map((s) => [s.id, s.name, s.members, s.main_gain_db, s.whisper_main]),
                     [[1, "huddle", [], -12, true]]);
  }

  step("put Bob and Alice in it: shown in the sidebar and in their member rows");
  await page.selectOption(`${sidebarBox} select.sb-pick`, "2");
  await page.click(`${sidebarBox} .sb-add`);
  await waitLine((l) => l === "sidebar-in 2 1");
  await page.locator(`${sidebarBox} .chip[data-member-id="2"]`).waitFor();
  assert.equal(await page.locator(`${sidebarBox} .chip[data-member-id="2"] .sb-member`).innerText(), "Bob");
  await page.waitForFunction(() =>
    document.querySelector('.room[data-room=demo] tr.member[data-member-id="2"] td.in-sidebar').textContent === "huddle #1");
  await page.selectOption(`${sidebarBox} select.sb-pick`, "1");
  await page.click(`${sidebarBox} .sb-add`);
  await waitLine((l) => l === "sidebar-in 1 1");
  await page.locator(`${sidebarBox} .chip[data-member-id="1"]`).waitFor();
  assert.equal(await sidebarCell(1).innerText(), "huddle #1");
  {
    const room = await apiRoom("demo");
    assert.deepEqual(room.sidebars[0].members, [2, 1]);
    assert.deepEqual(room.members.filter((m) => m.sidebar === 1).map((m) => m.id).sort(), [1, 2]);
  }

  step("take Alice out with her chip's remove button");
  await page.click(`${sidebarBox} .chip[data-member-id="1"] .sb-remove`);
  await waitLine((l) => l === "sidebar-out 1 1");
  await page.locator(`${sidebarBox} .chip[data-member-id="1"]`).waitFor({ state: "detached" });
  await page.waitForFunction(() =>
    document.querySelector('.room[data-room=demo] tr.member[data-member-id="1"] td.in-sidebar').textContent === "");
  assert.equal(await sidebarCell(2).innerText(), "huddle #1");
  assert.deepEqual((await apiRoom("demo")).sidebars[0].members, [2]);

  step("a refused sidebar shows the API's error");
  await page.fill(`${demo} .sidebar-name`, "huddle");
  await page.click(`${demo} .sidebar-create`);
  await page.waitForFunction(() => document.getElementById("message").textContent.includes("called huddle already"));
  assert.equal((await apiRoom("demo")).sidebars.length, 1);
  await page.fill(`${demo} .sidebar-name`, "");

  step("dissolve it: gone from the page and the API, Bob back in the main room");
  await page.click(`${sidebarBox} .sb-dissolve`);
  await waitLine((l) => l === "sidebar-dissolve 1");
  await page.locator(sidebarBox).waitFor({ state: "detached" });
  await page.waitForFunction(() =>
    document.querySelector('.room[data-room=demo] tr.member[data-member-id="2"] td.in-sidebar').textContent === "");
  assert.equal(await page.locator(`${demo} .sidebar`).count(), 0);
  assert.equal(await page.locator(`${demo} td.in-sidebar`).evaluateAll((cells) => cells.map((c) => c.textContent).join("")), "");
  {
    const room = await apiRoom("demo");
    assert.deepEqual(room.sidebars, []);
    assert.ok(room.members.every((m) => m.sidebar === 0));
  }

  step("the recording state stayed shown, and still follows Stop recording");
  assert.match(await demoTitle(), /recording/);
  assert.equal(await page.locator(`${demo} .record-button`).innerText(), "Stop recording");
  assert.equal((await apiRoom("demo")).recording, true);
  await page.click(`${demo} .record-button`);
  await waitLine((l) => l === "record-stop 0");
  await page.waitForFunction(() => !document.querySelector(".room[data-room=demo] h2").textContent.includes("recording"));
  assert.equal((await apiRoom("demo")).recording, false);

  step("Move without a room says so; a refused move shows the API's error and moves nobody");
  const bobRow = `${demo} tr.member[data-member-id="2"]`;
  await page.click(`${bobRow} .move-button`);
  await page.waitForFunction(() => document.getElementById("message").textContent.includes("type the room"));
  await page.fill(`${bobRow} .move-to`, "locked");
  await page.click(`${bobRow} .move-button`);
  await page.waitForFunction(() => document.getElementById("message").textContent === "PIN required");
  await page.fill(`${bobRow} .move-pin`, "0000");
  await page.click(`${bobRow} .move-button`);
  await page.waitForFunction(() => document.getElementById("message").textContent === "wrong PIN");
  assert.equal(lines.filter((l) => l.startsWith("move ")).length, 0);
  assert.ok((await apiRoom("demo")).members.some((m) => m.id === 2));

  step("Move Bob to room sales: he leaves demo and appears under sales");
  await page.fill(`${bobRow} .move-to`, "sales");
  await page.fill(`${bobRow} .move-pin`, "");
  await page.click(`${bobRow} .move-button`);
  await waitLine((l) => l === "move 2 sales -");
  const movedBob = page.locator('.room[data-room=sales] tr.member[data-member-id="2"]');
  await movedBob.waitFor();
  assert.match(await movedBob.locator(".name").innerText(), /Bob\s+sip:bob@127\.0\.0\.1/);
  await page.locator(bobRow).waitFor({ state: "detached" });
  assert.equal(await demoTitle(), "demo (2)");
  assert.equal(await page.locator(".room[data-room=sales] h2").innerText(), "sales (1)");
  assert.equal(await page.textContent("#message"), "");
  assert.deepEqual((await apiRoom("sales")).members.map((m) => m.id), [2]);
  assert.ok(!(await apiRoom("demo")).members.some((m) => m.id === 2));

  step("create a sidebar at -6 dB with Alice and caller 3 picked at creation");
  const desk = `${demo} .sidebar[data-sidebar-id="1"]`;
  // The picker offers the members in no sidebar; Bob has gone to sales.
  assert.deepEqual(await page.locator(`${demo} select.sidebar-members option`).evaluateAll((os) => os.map((o) => o.value)),
                   ["3", "1"]);
  await page.fill(`${demo} .sidebar-name`, "desk");
  await page.fill(`${demo} .sidebar-gain`, "5");
  await page.selectOption(`${demo} select.sidebar-members`, ["1", "3"]);
  await page.click(`${demo} .sidebar-create`);
  await message('"main_gain_db" must be between -60 and 0');
  assert.deepEqual((await apiRoom("demo")).sidebars, []);
  await page.fill(`${demo} .sidebar-gain`, "-6");
  await page.click(`${demo} .sidebar-create`);
  await waitLine((l) => l === "sidebar-create 1 desk");
  for (const id of [1, 3]) await page.locator(`${desk} .chip[data-member-id="${id}"]`).waitFor();
  assert.equal(await page.locator(`${desk} .sb-name`).innerText(), "desk");
  assert.equal(await page.locator(`${desk} .sb-gain`).innerText(), "main room at -6 dB");
  await page.waitForFunction(() => document.getElementById("message").textContent === "");
  for (const id of [1, 3]) assert.equal(await sidebarCell(id).innerText(), "desk #1");
  assert.deepEqual(sidebarRequests.at(-1), { name: "desk", whisper_main: false, main_gain_db: -6, members: [3, 1] });
  // The form is empty again; both members are in the sidebar, so nobody is left to pick.
  assert.equal(await page.inputValue(`${demo} .sidebar-name`), "");
  assert.equal(await page.inputValue(`${demo} .sidebar-gain`), "");
  assert.equal(await page.locator(`${demo} select.sidebar-members`).count(), 0);
  {
    const room = await apiRoom("demo");
    assert.deepEqual(room.sidebars.map((s) => [s.id, s.name, [...s.members].sort(), s.main_gain_db, s.whisper_main]),
                     [[1, "desk", [1, 3], -6, false]]);
    assert.deepEqual(room.members.map((m) => [m.id, m.sidebar]), [[3, 1], [1, 1]]);
  }

  assert.deepEqual(errors, []);
  console.log("PASS");
  process.exitCode = 0;
} catch (error) {
  console.error("FAIL:", error);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
  fixture.stdin.end();
  fixture.kill("SIGTERM");
}
