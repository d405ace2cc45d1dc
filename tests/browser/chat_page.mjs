// Drive the chat page as a person would, in Debian's headless Chromium.
//
//   node tests/browser/chat_page.mjs <base-url> <screenshot.png>
//
// Opens <base-url>/chat, picks the `agent` workflow, asks a question and waits for streamed
// text, then asks the agent to save a note, approves, and waits for the confirmation. Then
// past conversations: after a reload the conversation is in the list and reopens with its
// messages, and a second message lands on the same thread (read back through
// `GET /threads/{id}/state`); two threads started through the runs API (an answered one, and
// one waiting for an approval) are listed, reopen with their messages and continue on the
// page; and with `/threads/search` answering 401 the list gives way to a note while the chat
// still works. It writes a screenshot (also on failure, when the page got that far) and
// exits 0 on success; on any failure it prints the step that failed, the page's console, and
// exits 1.
//
// The words waited for are the scripted chat model's (tests/doubles/scripted_chat.py):
// "note:" makes it call save_note, which needs approval; other text gets "Scripted answer: ...";
// an approved save ends with "Saved the note.".
import { openPage, pageLog, step } from "./harness.mjs";

const [baseUrl, screenshotPath] = process.argv.slice(2);
if (!baseUrl || !screenshotPath) {
  console.error("usage: node chat_page.mjs <base-url> <screenshot.png>");
  process.exit(2);
}

const STEP_TIMEOUT_MS = 20_000; // each wait; a scripted run answers in well under a second
const TOTAL_TIMEOUT_MS = 150_000; // the whole script, browser start included

const QUESTION = "Who led Project Falcon?";
const NOTE_REQUEST = "note: Project Falcon retrospective is on Friday";
const FOLLOW_UP = "And who leads Project Heron?";
const RUNS_QUESTION = "Started through the runs API: when is the crane inspection?";
const RUNS_FOLLOW_UP = "Continued on the chat page";
const RUNS_NOTE = "note: the crane inspection moved to Monday";

let browser;
let page;

async function main() {
  ({ browser, page } = await openPage({ width: 1100, height: 820 }, STEP_TIMEOUT_MS));

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

  // ------------------------------------------------------------ past conversations
  const threadId = await step("read the thread id from the address", () => {
    const id = new URL(page.url()).searchParams.get("thread");
    if (!id) throw new Error(`the address has no thread: ${page.url()}`);
    return id;
  });
  await step("reload the page", () => page.reload({ waitUntil: "load" }));
  const entry = page.locator(`#history-list a[data-thread-id="${threadId}"]`);
  await step("see the conversation in the list, by its first message", async () => {
    await entry.waitFor();
    await expectText(entry.locator(".title"), QUESTION);
    if (!(await entry.locator("time").getAttribute("datetime"))) throw new Error("the entry has no time");
  });
  await step("see the reloaded page reopen it", () => expectConversation([QUESTION, "Saved the note."]));
  await step("start a new conversation", async () => {
    await page.click("#new-chat");
    await page.locator("#transcript .msg").first().waitFor({ state: "detached" });
    if (new URL(page.url()).searchParams.has("thread")) throw new Error("the address still names a thread");
  });
  await step("open the conversation from the list", () => entry.click());
  await step("see its messages and tool call", async () => {
    await expectConversation([QUESTION, "Scripted answer: Who led Project Falcon?", NOTE_REQUEST, "Saved the note."]);
    await page.locator('.tool[data-tool-call-id] .name', { hasText: "save_note" }).waitFor();
    if ((await entry.getAttribute("aria-current")) !== "page") throw new Error("the entry is not marked current");
  });
  await step("send a second message there", () => send(FOLLOW_UP));
  await step("wait for its answer", () =>
    page.locator(".msg.assistant", { hasText: `Scripted answer: ${FOLLOW_UP}` }).waitFor(),
  );
  await step("wait for the run to finish", () => idle());
  await step("check the thread holds both turns, each message once", () =>
    expectThread(threadId, [QUESTION, NOTE_REQUEST, FOLLOW_UP]),
  );

  // ------------------------------------------------------------ threads from the runs API
  const answered = await step("start a thread through the runs API", () => runsApiThread(RUNS_QUESTION));
  const waiting = await step("start a thread waiting for an approval through the runs API", () =>
    runsApiThread(RUNS_NOTE),
  );
  await step("reload the page", () => page.reload({ waitUntil: "load" }));
  const answeredEntry = page.locator(`#history-list a[data-thread-id="${answered}"]`);
  await step("see the runs API thread in the list", async () => {
    await answeredEntry.waitFor();
    await expectText(answeredEntry.locator(".title"), RUNS_QUESTION.slice(0, 40));
  });
  await step("open it", () => answeredEntry.click());
  await step("see its messages", () => expectConversation([RUNS_QUESTION, `Scripted answer: ${RUNS_QUESTION}`]));
  await step("continue it on the page", () => send(RUNS_FOLLOW_UP));
  await step("wait for the answer", () =>
    page.locator(".msg.assistant", { hasText: `Scripted answer: ${RUNS_FOLLOW_UP}` }).waitFor(),
  );
  await step("wait for the run to finish", () => idle());
  await step("check the runs API thread holds both turns", () =>
    expectThread(answered, [RUNS_QUESTION, RUNS_FOLLOW_UP]),
  );
  await step("open the thread waiting for an approval", () =>
    page.locator(`#history-list a[data-thread-id="${waiting}"]`).click(),
  );
  const reopened = page.locator(".approval").last();
  await step("see its approval request again and approve", async () => {
    await expectConversation([RUNS_NOTE]);
    await reopened.locator("button.approve").click();
  });
  await step("wait for the confirmation text", () =>
    page.locator(".msg.assistant", { hasText: "Saved the note." }).waitFor(),
  );
  await step("wait for the run to finish", () => idle());
  await step("check no error line is shown", async () => {
    const errors = await page.locator(".msg.error").allTextContents();
    if (errors.length) throw new Error(`the chat shows: ${errors.join(" | ")}`);
  });
  await step("open the first conversation again for the screenshot", async () => {
    await entry.click();
    await expectConversation([FOLLOW_UP]);
  });
  await step("take the screenshot", () => page.screenshot({ path: screenshotPath }));

  // ------------------------------------------------------------ a server that wants credentials
  await step("make /threads/search answer 401", () =>
    page.route("**/threads/search", (route) =>
      route.fulfill({ status: 401, contentType: "application/json", body: '{"detail":"Not authenticated"}' }),
    ),
  );
  await step("open /chat afresh", () => page.goto(new URL("/chat?workflow=agent", baseUrl).href));
  await step("see a note instead of the list", () =>
    page.locator("#history-note", { hasText: "credentials" }).waitFor(),
  );
  await step("chat all the same", async () => {
    await send(QUESTION);
    await page.locator(".msg.assistant", { hasText: "Scripted answer:" }).waitFor();
    await idle();
  });
}

/** Wait until `locator`'s text starts with `prefix`. */
async function expectText(locator, prefix) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let text = "";
  while (Date.now() < deadline) {
    text = (await locator.textContent())?.trim() ?? "";
    if (text.startsWith(prefix)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`expected text starting ${JSON.stringify(prefix)}, saw ${JSON.stringify(text)}`);
}

/** Wait until the transcript shows each of `texts`, in a message of its own. */
async function expectConversation(texts) {
  for (const text of texts) {
    await page.locator("#transcript .msg", { hasText: text }).first().waitFor();
  }
}

/** Start a thread with one answered run through the Agent Server API; return its id. */
async function runsApiThread(text) {
  const threadId = crypto.randomUUID();
  const response = await fetch(new URL(`/threads/${threadId}/runs/wait`, baseUrl), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      assistant_id: "agent",
      input: { messages: [{ role: "user", content: text }] },
      if_not_exists: "create",
    }),
  });
  if (!response.ok) throw new Error(`the run answered HTTP ${response.status}: ${await response.text()}`);
  return threadId;
}

/** Check the thread's checkpoint has each user text once, and no message twice. */
async function expectThread(threadId, userTexts) {
  const response = await fetch(new URL(`/threads/${threadId}/state`, baseUrl));
  if (!response.ok) throw new Error(`GET /threads/${threadId}/state answered HTTP ${response.status}`);
  const messages = (await response.json()).values?.messages ?? [];
  const said = messages.filter((m) => m.type === "human").map((m) => m.content);
  if (JSON.stringify(said) !== JSON.stringify(userTexts)) {
    throw new Error(`the thread's user messages are ${JSON.stringify(said)}`);
  }
  const ids = messages.map((m) => m.id);
  if (new Set(ids).size !== ids.length) throw new Error(`a message is there twice: ${JSON.stringify(ids)}`);
  if (messages.at(-1)?.type !== "ai") throw new Error("the thread does not end with an answer");
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
  console.log(
    "OK: chat page streamed, asked for approval and confirmed, listed, reopened and continued " +
      `past conversations; screenshot at ${screenshotPath}`,
  );
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
