// The chat page: pick a workflow, chat with it over AG-UI 1.0, approve or reject tool calls,
// and pick up a past conversation, whichever surface started it.
//
// One HttpAgent is one thread: it keeps the thread id and the whole message history and sends
// both on every run, and it holds the interrupts the last run ended on. Switching workflow or
// pressing "New conversation" starts a new agent, so a new thread; opening a past one starts
// an agent on its thread id, seeded with its checkpointed messages under their own ids.
import { HttpAgent, randomUUID } from "@ag-ui/client";

import { conversationList } from "./conversations.js";
import { drawPast } from "./past.js";
import { approvalCard, asPassages, errorLine, h, sourcesBlock, userMessage } from "./render.js";
import { subscriberFor } from "./run-events.js";
import { getState, getThread, toAguiInterrupts, toAguiMessages } from "./threads.js";

// Same origin as the page; `GET /agui` lists the workflows, `POST /agui/{name}` runs one.
const API = "/agui";

const ui = {
  workflow: document.getElementById("workflow"),
  description: document.getElementById("workflow-description"),
  newChat: document.getElementById("new-chat"),
  status: document.getElementById("status"),
  history: document.getElementById("history"),
  historyList: document.getElementById("history-list"),
  historyNote: document.getElementById("history-note"),
  transcript: document.getElementById("transcript"),
  composer: document.getElementById("composer"),
  prompt: document.getElementById("prompt"),
  send: document.getElementById("send"),
};

/** What the page knows about the current thread; replaced whole by `newThread`. */
let thread = emptyThread(null);

/** Counts `openThread` calls, so a conversation that loads late does not replace a newer one. */
let opening = 0;

const conversations = conversationList(
  { nav: ui.history, list: ui.historyList, note: ui.historyNote },
  (threadId) => openThread(threadId),
);

function emptyThread(agent) {
  return {
    /** @type {HttpAgent|null} */
    agent,
    /** True while a run streams. */
    busy: false,
    /** Assistant bubbles by message id; a resumed run may continue one. */
    texts: new Map(),
    /** Tool-call cards by tool-call id; a resumed run posts the result of an earlier call. */
    tools: new Map(),
    /** Open interrupts by id: `{interrupt, card, decision}`; decision is null until clicked. */
    pending: new Map(),
    /** The sources last shown, as JSON, so a checkpointed state does not repeat them. */
    shownSources: "",
  };
}

// ---------------------------------------------------------------- status and layout helpers

function setStatus(text, kind = "idle") {
  ui.status.textContent = text;
  ui.status.dataset.kind = kind;
}

/** Enable the composer only when a message may be sent: idle, and no approval outstanding. */
function refreshComposer() {
  const waiting = thread.pending.size > 0;
  const open = Boolean(thread.agent) && !thread.busy && !waiting;
  ui.prompt.disabled = !open;
  ui.send.disabled = !open;
  ui.workflow.disabled = thread.busy || ui.workflow.options.length === 0;
  ui.newChat.disabled = thread.busy;
  conversations.setLocked(thread.busy);
  ui.prompt.placeholder = waiting
    ? "Approve or reject the tool call above to continue."
    : "Ask something… (Enter sends, Shift+Enter for a new line)";
  if (open) ui.prompt.focus();
}

/** Append to the transcript, keeping it pinned to the bottom if the reader was there. */
function append(el, after = null) {
  const t = ui.transcript;
  const atBottom = t.scrollHeight - t.scrollTop - t.clientHeight < 80;
  t.querySelector(".empty")?.remove();
  if (after?.isConnected) after.after(el);
  else t.append(el);
  if (atBottom) t.scrollTop = t.scrollHeight;
  return el;
}

/** Keep the newest content in view while text streams into the last bubble. */
function followStream() {
  const t = ui.transcript;
  if (t.scrollHeight - t.scrollTop - t.clientHeight < 160) t.scrollTop = t.scrollHeight;
}

/** Turn whatever a failed run threw into a sentence for the transcript. */
function describe(error) {
  const detail = error?.payload?.detail ?? error?.payload?.error?.message;
  if (typeof detail === "string") return `${detail} (HTTP ${error.status})`;
  if (error?.name === "TypeError" && /fetch/i.test(error.message)) {
    return "The server could not be reached. Is it running?";
  }
  return error?.message || String(error);
}

// ---------------------------------------------------------------- workflows and threads

async function loadWorkflows() {
  setStatus("Loading workflows…", "busy");
  let workflows;
  try {
    const response = await fetch(API, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`GET ${API} answered HTTP ${response.status}`);
    ({ workflows } = await response.json());
  } catch (error) {
    setStatus("No workflows", "error");
    append(errorLine(`Could not load the workflows: ${describe(error)}`));
    return;
  }
  ui.workflow.replaceChildren(
    ...workflows.map((w) => h("option", { value: w.name, text: w.name, title: w.description ?? "" })),
  );
  ui.workflow.dataset.descriptions = JSON.stringify(
    Object.fromEntries(workflows.map((w) => [w.name, w.description ?? ""])),
  );
  // `?workflow=name` picks one on load, so a link can open the page on a given workflow, and
  // `?thread=id` reopens a conversation (the page puts it there once a conversation starts).
  const params = new URLSearchParams(location.search);
  const wanted = params.get("workflow");
  if (workflows.some((w) => w.name === wanted)) ui.workflow.value = wanted;
  const threadId = params.get("thread");
  if (threadId) openThread(threadId);
  else newThread();
  conversations.refresh(ui.workflow.value);
}

/** Show the selected workflow's description and put it (and `threadId`) in the address. */
function showWorkflow(threadId) {
  const name = ui.workflow.value;
  const descriptions = JSON.parse(ui.workflow.dataset.descriptions || "{}");
  ui.description.textContent = descriptions[name] || "";
  const url = new URL(location.href);
  url.searchParams.set("workflow", name);
  if (threadId) url.searchParams.set("thread", threadId);
  else url.searchParams.delete("thread");
  history.replaceState(null, "", url);
  conversations.setCurrent(threadId);
}

/** Return a fresh agent for the selected workflow on `threadId`. */
function agentFor(threadId, messages = []) {
  const url = `${API}/${encodeURIComponent(ui.workflow.value)}`;
  return new HttpAgent({ url, threadId, initialMessages: messages });
}

/** Start a new thread on the selected workflow, with an empty transcript. */
function newThread() {
  const name = ui.workflow.value;
  if (!name) return;
  opening += 1;
  thread.agent?.abortRun();
  thread = emptyThread(agentFor(randomUUID()));
  ui.transcript.replaceChildren(h("p.empty", { text: `New conversation with “${name}”.` }));
  showWorkflow(null);
  setStatus("Ready");
  refreshComposer();
}

/** Start a new thread on the workflow just picked, and list that workflow's conversations. */
function switchWorkflow() {
  newThread();
  conversations.refresh(ui.workflow.value);
}

/**
 * Reopen a past conversation: draw its messages, and continue it on its own thread.
 *
 * The thread record says which workflow it belongs to (`metadata.graph_id`); the state holds
 * its messages and any approval it still waits for, which the page then asks for again.
 */
async function openThread(threadId) {
  if (thread.busy) return;
  const mine = ++opening;
  thread.agent?.abortRun();
  thread = emptyThread(null);
  ui.transcript.replaceChildren(h("p.empty", { text: "Loading the conversation…" }));
  setStatus("Loading conversation…", "busy");
  refreshComposer();
  let record;
  let state;
  try {
    [record, state] = await Promise.all([getThread(threadId), getState(threadId)]);
  } catch (error) {
    if (mine !== opening) return;
    newThread();
    const why = error?.status === 404 ? "it was not found on the server" : describe(error);
    append(errorLine(`Could not open that conversation: ${why}`));
    return;
  }
  if (mine !== opening) return;
  const workflow = record?.metadata?.graph_id;
  if (workflow && workflow !== ui.workflow.value) {
    if (![...ui.workflow.options].some((o) => o.value === workflow)) {
      newThread();
      append(errorLine(`That conversation is with “${workflow}”, which this page cannot open.`));
      return;
    }
    ui.workflow.value = workflow;
    conversations.refresh(workflow);
  }
  const messages = state?.values?.messages ?? [];
  thread = emptyThread(agentFor(threadId, toAguiMessages(messages)));
  thread.agent.pendingInterrupts = toAguiInterrupts(state);
  const waiting = new Set(thread.agent.pendingInterrupts.map((i) => i.toolCallId));
  const past = drawPast(messages, waiting);
  thread.texts = past.texts;
  thread.tools = past.tools;
  const empty = h("p.empty", { text: "This conversation has no messages yet." });
  ui.transcript.replaceChildren(...(past.nodes.length ? past.nodes : [empty]));
  // The sources of the last answer, when the workflow keeps them (rag-chat).
  const sources = asPassages(state?.values?.sources);
  if (sources) showSources({ sources, lastText: past.lastText });
  showWorkflow(threadId);
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
  syncInterrupts(thread);
  setStatus(thread.pending.size > 0 ? "Waiting for your approval" : "Ready",
    thread.pending.size > 0 ? "waiting" : "idle");
  refreshComposer();
}

// ---------------------------------------------------------------- runs

/** Show the run's sources under its last answer, unless they are the ones already shown. */
function showSources(turn) {
  if (!turn.sources) return;
  const key = JSON.stringify(turn.sources);
  if (key === thread.shownSources) return;
  thread.shownSources = key;
  append(sourcesBlock(turn.sources), turn.lastText);
}

/**
 * Run the agent once and draw what it streams; never throws.
 * @param {import("@ag-ui/client").RunAgentParameters} params - `resume` answers interrupts.
 */
async function run(params = {}) {
  const t = thread;
  const turn = { lastText: null, streamed: [], sources: null, failed: false };
  t.busy = true;
  refreshComposer();
  try {
    const view = { append, followStream, setStatus, showSources };
    await t.agent.runAgent(params, subscriberFor(t, turn, view));
  } catch (error) {
    turn.failed = true;
    if (error?.name !== "AbortError") append(errorLine(describe(error)));
  } finally {
    t.busy = false;
  }
  if (t !== thread) return; // A new thread was started while this run streamed.
  // The conversation is now on the server: list it (or move it to the top).
  conversations.refresh(ui.workflow.value);
  for (const msg of t.texts.values()) msg.done();
  syncInterrupts(t);
  if (t.pending.size > 0) setStatus("Waiting for your approval", "waiting");
  else setStatus(turn.failed ? "Failed" : "Ready", turn.failed ? "error" : "idle");
  refreshComposer();
}

/**
 * Match the approval cards to the interrupts the agent holds after a run.
 *
 * New interrupts get a card; answered ones that the agent no longer holds are forgotten; and
 * answered ones it still holds (the resuming run failed) open their buttons again, since the
 * client refuses any other run until each is answered.
 */
function syncInterrupts(t) {
  const open = new Map(t.agent.pendingInterrupts.map((i) => [i.id, i]));
  for (const [id, entry] of t.pending) {
    if (!open.has(id)) t.pending.delete(id);
    else if (entry.decision !== null) {
      entry.decision = null;
      entry.card.reopen("Not sent; answer again.");
    }
  }
  for (const [id, interrupt] of open) {
    if (t.pending.has(id)) continue;
    const tool = interrupt.toolCallId ? t.tools.get(interrupt.toolCallId) : null;
    tool?.setVerdict(null);
    const name = tool?.el.querySelector(".name")?.textContent ?? null;
    const card = approvalCard(interrupt, name, (approved) => decide(t, id, approved));
    t.pending.set(id, { interrupt, card, decision: null });
    append(card.el);
  }
}

/** Record a decision; once every open interrupt has one, resume the thread with them all. */
function decide(t, id, approved) {
  const entry = t.pending.get(id);
  if (!entry || entry.decision !== null || t.busy || t !== thread) return;
  entry.decision = approved;
  entry.card.decided(approved);
  const tool = entry.interrupt.toolCallId ? t.tools.get(entry.interrupt.toolCallId) : null;
  tool?.setVerdict(approved);
  const undecided = [...t.pending.values()].filter((e) => e.decision === null).length;
  if (undecided > 0) {
    setStatus(`${undecided} more to answer`, "waiting");
    return;
  }
  const resume = [...t.pending.values()].map((e) => ({
    interruptId: e.interrupt.id,
    status: "resolved",
    payload: { approved: e.decision },
  }));
  run({ resume });
}

/** Send the composer's text as a user message and run the agent on it. */
function send() {
  const text = ui.prompt.value.trim();
  const t = thread;
  if (!text || !t.agent || t.busy || t.pending.size > 0) return;
  ui.prompt.value = "";
  // From its first message on, a conversation is in the address, so a reload reopens it.
  if (t.agent.messages.length === 0) showWorkflow(t.agent.threadId);
  t.agent.addMessage({ id: randomUUID(), role: "user", content: text });
  append(userMessage(text));
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
  run();
}

// ---------------------------------------------------------------- wiring

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});
ui.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});
ui.workflow.addEventListener("change", switchWorkflow);
ui.newChat.addEventListener("click", newThread);

loadWorkflows();
