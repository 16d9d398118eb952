// node capture_chromium.mjs <dir with node_modules/playwright-core> <page.html>
// Prints "<chromium version>\n<offer SDP>" from headless Debian chromium.
import { createRequire } from "node:module";
import { resolve } from "node:path";
const [nodeDir, page] = process.argv.slice(2);
const { chromium } = createRequire(resolve(nodeDir) + "/")("playwright-core");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
});
try {
  const tab = await browser.newPage();
  await tab.goto("file://" + resolve(page));
  await tab.waitForFunction(() => document.getElementById("sdp").textContent !== "pending",
                            null, { timeout: 15000 });
  const sdp = await tab.textContent("#sdp");
  process.stdout.write(browser.version() + "\n" + sdp);
} finally {
  await browser.close();
}
