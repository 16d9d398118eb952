// Shared by the web page tests: a self-signed certificate, a chorus with
// [web] (HTTPS) and WSS on loopback, chorus-load members, and headless
// Chromium set up for the page (certificate errors ignored for the
// self-signed WSS, a fake microphone, no permission prompt).

import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const step = (text) => console.log("-- " + text);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function playwright(nodeDir) {
  return createRequire(resolve(nodeDir) + "/")("playwright-core");
}

const children = [];
export function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
}

export function start(path, args) {
  const child = spawn(path, args, { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  child.lines = [];
  child.waiters = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    child.lines.push(line);
    child.waiters = child.waiters.filter((w) => !w(line));
  });
  child.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  return child;
}

export function waitLine(child, predicate, ms, what) {
  const seen = child.lines.find(predicate);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("never printed: " + what)), ms);
    child.waiters.push((line) => {
      if (!predicate(line)) return false;
      clearTimeout(timer);
      resolve(line);
      return true;
    });
  });
}

// A chorus with SIP on UDP, WSS and the web page over HTTPS, all on
// 127.0.0.1 with one self-signed certificate; optionally the admin API.
export async function startChorus(chorusPath, assetsDir, { admin = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "chorus-web-"));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    "-keyout", key, "-out", cert], { stdio: "ignore" });
  const sipPort = 15060 + Math.floor(Math.random() * 2000) * 4;
  const ports = { sip: sipPort, wss: sipPort + 1, web: sipPort + 2, admin: sipPort + 3 };
  const rtpFirst = 42000 + Math.floor(Math.random() * 100) * 100;
  const config = join(dir, "chorus.toml");
  writeFileSync(config, `[sip]
listen = "127.0.0.1:${ports.sip}"
tcp = false
slow_room_prefix = ""
wss_port = ${ports.wss}
wss_certificate = "${cert}"
wss_private_key = "${key}"
ws_allowed_origins = ["https://127.0.0.1:${ports.web}"]
[media]
rtp_ports = "${rtpFirst}-${rtpFirst + 99}"
[web]
address = "127.0.0.1"
port = ${ports.web}
certificate = "${cert}"
private_key = "${key}"
assets_dir = "${assetsDir}"
${admin ? `[admin]\naddress = "127.0.0.1"\nport = ${ports.admin}\ntoken = "web-test-token-of-at-least-32-chars"\n` : ""}`);
  const chorus = start(chorusPath, ["--config", config]);
  await Promise.race([
    waitLine(chorus, (l) => l.includes("dial sip:"), 20000, "chorus's banner"),
    chorus.exited.then((code) => { throw new Error("chorus exited with " + code); }),
  ]);
  const web = chorus.lines.find((l) => l.includes("web phone on"));
  if (!web) throw new Error("chorus printed no 'web phone on' banner line");
  return { ports, rtpFirst, base: `https://127.0.0.1:${ports.web}`, dir };
}

// chorus-load members in room <prefix>0. Its JSON report lines (with
// --report-interval) gather in load.reports, stamped with the time seen.
export function startLoad(loadPath, ports, portBase, args) {
  const load = start(loadPath, ["--target", `127.0.0.1:${ports.sip}`, "--rooms", "1",
    "--no-progress", "--local-port-base", String(portBase), ...args]);
  load.reports = [];
  load.waiters.push((line) => {
    try {
      const r = JSON.parse(line);
      if (r.heard) load.reports.push({ ...r, at: Date.now() });
    } catch { /* the summary */ }
    return false; // stays for every line
  });
  return load;
}

export async function launchBrowser(nodeDir, extraArgs = []) {
  const { chromium } = playwright(nodeDir);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
      // The WSS listener's certificate is self-signed (made above).
      "--ignore-certificate-errors",
      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
      "--autoplay-policy=no-user-gesture-required", ...extraArgs],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  return { browser, context };
}

// Console errors and CSP violations the page causes, to assert none.
export function watchPage(page) {
  const problems = [];
  page.on("pageerror", (e) => problems.push("pageerror: " + e));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push("console: " + m.text());
  });
  return problems;
}

// page.waitForFunction polls by evaluating a string in the page, which the
// page's Content-Security-Policy (script-src 'self', no eval) forbids; the
// tests keep the CSP on and poll with page.evaluate (DevTools, not eval).
export async function waitFor(page, predicate, arg = undefined, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await page.evaluate(predicate, arg)) return;
    if (Date.now() > end) throw new Error("timed out waiting for " + predicate.toString());
    await sleep(100);
  }
}
