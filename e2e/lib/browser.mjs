// Launches the system's Chromium (Debian's /usr/bin/chromium, or
// CHROMIUM_PATH) headless through playwright-core; nothing is downloaded.
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

export const chromiumPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** Launches headless Chromium; fails with a clear message when it is missing. */
export async function launchBrowser() {
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
    ],
  });
}
