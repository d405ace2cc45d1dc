// What every browser script here shares: Debian's headless Chromium, named steps, the page log.
import { chromium } from "playwright-core";

// Debian's package, never a downloaded browser build: this machine reaches no browser CDN.
const CHROMIUM = process.env.ORCA_CHROMIUM ?? "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The page's console, uncaught errors and failed requests, printed when a step fails. */
export const pageLog = [];

/** Run one named step; a failure says which step, and why. */
export async function step(name, action) {
  console.log(`- ${name}`);
  try {
    return await action();
  } catch (error) {
    throw new Error(`step "${name}" failed: ${error.message.split("\n")[0]}`);
  }
}

/** Launch Chromium and open a page whose console and errors go to `pageLog`. */
export async function openPage(viewport, stepTimeoutMs) {
  const browser = await step("launch Chromium", () =>
    chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: stepTimeoutMs }),
  );
  const page = await browser.newPage({ viewport });
  page.setDefaultTimeout(stepTimeoutMs);
  page.on("console", (msg) => pageLog.push(`console.${msg.type()}: ${msg.text()}`));
  page.on("pageerror", (error) => pageLog.push(`pageerror: ${error.message}`));
  page.on("requestfailed", (req) => pageLog.push(`requestfailed: ${req.url()} ${req.failure()?.errorText}`));
  return { browser, page };
}
