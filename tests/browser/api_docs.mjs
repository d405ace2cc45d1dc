// Open the API docs as a person would, in Debian's headless Chromium, with the internet cut off.
//
//   node tests/browser/api_docs.mjs <base-url> <screenshot.png>
//
// Every request not to <base-url>'s origin is aborted, as on a machine without internet.
// Opens <base-url>/docs and waits for Swagger UI to list the operations (among them
// `POST /v1/embeddings`), then <base-url>/redoc and waits for ReDoc to list them too. Exits 0
// on success; on any failure, or when either page asked for anything outside the server, it
// prints the step that failed, the requests it blocked and the page's console, and exits 1.
// The screenshot (of Swagger UI) is written on failure too, when the page got that far.
import { openPage, pageLog, step } from "./harness.mjs";

const [baseUrl, screenshotPath] = process.argv.slice(2);
if (!baseUrl || !screenshotPath) {
  console.error("usage: node api_docs.mjs <base-url> <screenshot.png>");
  process.exit(2);
}

const STEP_TIMEOUT_MS = 20_000; // each wait; both pages render in about a second here
const TOTAL_TIMEOUT_MS = 120_000; // the whole script, browser start included
const LEAST_OPERATIONS = 10; // the app has dozens; a handful would mean a half-read document

const origin = new URL(baseUrl).origin;
/** Requests aborted because they were not to the server: there must be none. */
const blocked = [];
let browser;
let page;

async function main() {
  ({ browser, page } = await openPage({ width: 1100, height: 1400 }, STEP_TIMEOUT_MS));
  // The network cut: only the server under test answers.
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    blocked.push(url);
    return route.abort("internetdisconnected");
  });

  await step("open /docs", async () => {
    const response = await page.goto(new URL("/docs", baseUrl).href, { waitUntil: "load" });
    if (!response?.ok()) throw new Error(`GET /docs answered HTTP ${response?.status()}`);
  });
  await step("wait for Swagger UI to list POST /v1/embeddings", () =>
    page.locator(".opblock-post", { has: page.locator('[data-path="/v1/embeddings"]') }).first().waitFor(),
  );
  await step(`check Swagger UI lists at least ${LEAST_OPERATIONS} operations`, async () => {
    const count = await page.locator(".opblock").count();
    if (count < LEAST_OPERATIONS) throw new Error(`only ${count} operations are listed`);
    console.log(`  ${count} operations listed`);
  });
  await step("take the screenshot", () => page.screenshot({ path: screenshotPath }));

  await step("open /redoc", async () => {
    const response = await page.goto(new URL("/redoc", baseUrl).href, { waitUntil: "load" });
    if (!response?.ok()) throw new Error(`GET /redoc answered HTTP ${response?.status()}`);
  });
  await step("wait for ReDoc to list the embeddings operation", () =>
    page.getByRole("menuitem").filter({ hasText: "Create embeddings" }).first().waitFor(),
  );

  await step("check nothing was asked of the internet", async () => {
    if (blocked.length) throw new Error(`the pages asked for ${blocked.length} outside URLs`);
  });
}

const watchdog = setTimeout(() => {
  console.error(`FAIL: the whole run took over ${TOTAL_TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

let failed = false;
try {
  await main();
  console.log(`OK: /docs and /redoc listed the operations offline; screenshot at ${screenshotPath}`);
} catch (error) {
  failed = true;
  console.error(`FAIL: ${error.message}`);
  if (blocked.length) console.error(`blocked requests:\n  ${blocked.join("\n  ")}`);
  if (pageLog.length) console.error(`page log:\n  ${pageLog.join("\n  ")}`);
  // A picture of where it stopped is the quickest way to see why.
  await page?.screenshot({ path: screenshotPath }).catch(() => {});
} finally {
  await browser?.close().catch(() => {});
  clearTimeout(watchdog);
}
process.exit(failed ? 1 : 0);
