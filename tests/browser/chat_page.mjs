// Drive the chat page as a person would, in Debian's headless Chromium.
//
//   node tests/browser/chat_page.mjs <base-url> <screenshot.png>
//
// Opens <base-url>/chat, picks the `agent` workflow, asks a question and waits for streamed
// text, then asks the agent to save a note, approves, and waits for the confirmation. It
// writes a screenshot (also on failure, when the page got that far) and exits 0 on success;
// on any failure it prints the step that failed, the page's console, and exits 1.
//
// The words waited for are the scripted chat model's (tests/doubles/scripted_chat.py):
// "note:" makes it call save_note, which needs approval; other text gets "Scripted answer: ...";
// an approved save ends with "Saved the note.".
import { chromium } from "playwright-core";

const [baseUrl, screenshotPath] = process.argv.slice(2);
if (!baseUrl || !screenshotPath) {
  console.error("usage: node chat_page.mjs <base-url> <screenshot.png>");
  process.exit(2);
}

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
const STEP_TIMEOUT_MS = 20_000; // each wait; a scripted run answers in well under a second
const TOTAL_TIMEOUT_MS = 120_000; // the whole script, browser start included

const QUESTION = "Who led Project Falcon?";
const NOTE_REQUEST = "note: Project Falcon retrospective is on Friday";

/** The page's console and uncaught errors, printed when a step fails. */
const pageLog = [];
let browser;
let page;

/** Run one named step; a failure says which step, and why. */
async function step(name, action) {
  console.log(`- ${name}`);
  try {
    return await action();
  } catch (error) {
    throw new Error(`step "${name}" failed: ${error.message.split("\n")[0]}`);
  }
}

async function main() {
  browser = await step("launch Chromium", () =>
    chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: STEP_TIMEOUT_MS }),
  );
  page = await browser.newPage({ viewport: { width: 1100, height: 820 } });
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("console", (msg) => pageLog.push(`console.${msg.type()}: ${msg.text()}`));
  page.on("pageerror", (error) => pageLog.push(`pageerror: ${error.message}`));
  page.on("requestfailed", (req) => pageLog.push(`requestfailed: ${req.url()} ${req.failure()?.errorText}`));

  await step("open /chat", async () => {
    const response = await page.goto(new URL("/chat", baseUrl).href, { waitUntil: "load" });
    if (!response?.ok()) throw new Error(`GET /chat answered HTTP ${response?.status()}`);
  });
  await step("pick the agent workflow", async () => {
    await page.locator('#workflow option[value="agent"]').waitFor({ state: "attached" });
    await page.selectOption("#workflow", "agent");
  });

  await step("send a question", () => send(QUESTION));
  await step("wait for streamed assistant text", () =>
    page.locator(".msg.assistant", { hasText: "Scripted answer:" }).first().waitFor(),
  );
  await step("wait for the run to finish", () => idle());

  await step("ask the agent to save a note", () => send(NOTE_REQUEST));
  const approval = page.locator(".approval").last();
  await step("wait for the approval request", () => approval.locator("button.approve").waitFor());
  await step("click Approve", () => approval.locator("button.approve").click());
  await step("wait for the confirmation text", () =>
    page.locator(".msg.assistant", { hasText: "Saved the note." }).first().waitFor(),
  );
  await step("wait for the run to finish", () => idle());
  await step("check the approval shows as approved", async () => {
    const outcome = (await approval.locator(".outcome").textContent())?.trim();
    if (outcome !== "Approved") throw new Error(`the approval card says ${JSON.stringify(outcome)}`);
  });
  await step("check no error line is shown", async () => {
    const errors = await page.locator(".msg.error").allTextContents();
    if (errors.length) throw new Error(`the chat shows: ${errors.join(" | ")}`);
  });
  await step("take the screenshot", () => page.screenshot({ path: screenshotPath }));
}

/** Type a message into the composer and send it. */
async function send(text) {
  await page.locator("#prompt:enabled").waitFor();
  await page.fill("#prompt", text);
  await page.click("#send");
}

/** Wait until the page is idle again: the composer is open and nothing is streaming. */
async function idle() {
  await page.locator("#send:enabled").waitFor();
  await page.locator(".msg.assistant.streaming").waitFor({ state: "detached" });
}

const watchdog = setTimeout(() => {
  console.error(`FAIL: the whole run took over ${TOTAL_TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

let failed = false;
try {
  await main();
  console.log(`OK: chat page streamed, asked for approval and confirmed; screenshot at ${screenshotPath}`);
} catch (error) {
  failed = true;
  console.error(`FAIL: ${error.message}`);
  if (pageLog.length) console.error(`page log:\n  ${pageLog.join("\n  ")}`);
  // A picture of where it stopped is the quickest way to see why.
  await page?.screenshot({ path: screenshotPath }).catch(() => {});
} finally {
  await browser?.close().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(failed ? 1 : 0);
