// The chat page: pick a workflow, chat with it over AG-UI 1.0, approve or reject tool calls.
//
// One HttpAgent is one thread: it keeps the thread id and the whole message history and sends
// both on every run, and it holds the interrupts the last run ended on. Switching workflow or
// pressing "New chat" starts a new agent, so a new thread.
import { HttpAgent, randomUUID } from "@ag-ui/client";

import {
  approvalCard,
  asPassages,
  assistantMessage,
  errorLine,
  h,
  sourcesBlock,
  toolCard,
  userMessage,
} from "./render.js";

// Same origin as the page; `GET /agui` lists the workflows, `POST /agui/{name}` runs one.
const API = "/agui";

const ui = {
  workflow: document.getElementById("workflow"),
  description: document.getElementById("workflow-description"),
  newChat: document.getElementById("new-chat"),
  status: document.getElementById("status"),
  transcript: document.getElementById("transcript"),
  composer: document.getElementById("composer"),
  prompt: document.getElementById("prompt"),
  send: document.getElementById("send"),
};

/** What the page knows about the current thread; replaced whole by `newThread`. */
let thread = emptyThread(null);

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
  // `?workflow=name` picks one on load, so a link can open the page on a given workflow.
  const wanted = new URLSearchParams(location.search).get("workflow");
  if (workflows.some((w) => w.name === wanted)) ui.workflow.value = wanted;
  newThread();
}

/** Start a new thread on the selected workflow, with an empty transcript. */
function newThread() {
  const name = ui.workflow.value;
  if (!name) return;
  thread.agent?.abortRun();
  thread = emptyThread(
    new HttpAgent({ url: `${API}/${encodeURIComponent(name)}`, threadId: randomUUID() }),
  );
  const descriptions = JSON.parse(ui.workflow.dataset.descriptions || "{}");
  ui.description.textContent = descriptions[name] || "";
  ui.transcript.replaceChildren(h("p.empty", { text: `New conversation with “${name}”.` }));
  const url = new URL(location.href);
  url.searchParams.set("workflow", name);
  history.replaceState(null, "", url);
  setStatus("Ready");
  refreshComposer();
}

// ---------------------------------------------------------------- runs

/**
 * Build the subscriber for one run: it draws the run's events into the transcript.
 * @param {{lastText: HTMLElement|null, streamed: object[], sources: object[]|null,
 *   failed: boolean}} turn - this run's bookkeeping.
 */
function subscriberFor(turn) {
  const t = thread;
  const card = (id, name) => {
    let c = t.tools.get(id);
    if (!c) {
      c = toolCard(id, name ?? "tool");
      t.tools.set(id, c);
      append(c.el);
    }
    return c;
  };
  return {
    onRunStartedEvent() {
      setStatus("Working…", "busy");
    },
    onStepStartedEvent({ event }) {
      setStatus(`Working: ${event.stepName}`, "busy");
    },
    onTextMessageStartEvent({ event }) {
      if (event.role && event.role !== "assistant") return;
      if (!t.texts.has(event.messageId)) {
        const msg = assistantMessage(event.messageId);
        t.texts.set(event.messageId, msg);
        append(msg.el);
      }
      turn.streamed.push(t.texts.get(event.messageId));
      turn.lastText = t.texts.get(event.messageId).el;
    },
    onTextMessageContentEvent({ event }) {
      const msg = t.texts.get(event.messageId);
      if (!msg) return;
      msg.append(event.delta);
      followStream();
    },
    onTextMessageEndEvent({ event }) {
      t.texts.get(event.messageId)?.done();
    },
    onToolCallStartEvent({ event }) {
      card(event.toolCallId, event.toolCallName).streamArgs(null);
    },
    onToolCallArgsEvent({ event }) {
      t.tools.get(event.toolCallId)?.streamArgs(event.delta);
    },
    onToolCallEndEvent({ event }) {
      t.tools.get(event.toolCallId)?.streamArgs(true);
    },
    onToolCallResultEvent({ event }) {
      card(event.toolCallId).setResult(String(event.content ?? ""));
    },
    onStateSnapshotEvent({ event }) {
      const sources = asPassages(event.snapshot?.sources);
      if (sources) turn.sources = sources;
    },
    onMessagesSnapshotEvent({ event, input }) {
      // A node that answers without streaming (rag-chat when nothing is found) shows its
      // answer only here: draw the run's new assistant texts that no TEXT_MESSAGE drew.
      // A node that builds its own message may store it under another id than the one it
      // streamed with (rag-chat's generate does): the same text streamed in this run is that
      // message, so it is recorded under the new id rather than drawn twice.
      const before = new Set(input.messages.map((m) => m.id));
      for (const m of event.messages) {
        if (m.role !== "assistant" || before.has(m.id) || t.texts.has(m.id)) continue;
        if (typeof m.content !== "string" || !m.content) continue;
        const twin = turn.streamed.find((s) => s.text === m.content);
        if (twin) {
          t.texts.set(m.id, twin);
          continue;
        }
        const msg = assistantMessage(m.id);
        msg.append(m.content);
        msg.done();
        t.texts.set(m.id, msg);
        turn.lastText = append(msg.el, turn.lastText);
      }
    },
    onRunErrorEvent({ event }) {
      turn.failed = true;
      append(errorLine(event.message || "The run failed.", event.code));
    },
    onRunFinishedEvent() {
      // Interrupts are read from agent.pendingInterrupts once the run is over (see `run`):
      // the client sets them after the subscribers have seen this event.
      for (const msg of t.texts.values()) msg.done();
      showSources(turn);
    },
  };
}

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
    await t.agent.runAgent(params, subscriberFor(turn));
  } catch (error) {
    turn.failed = true;
    if (error?.name !== "AbortError") append(errorLine(describe(error)));
  } finally {
    t.busy = false;
  }
  if (t !== thread) return; // A new thread was started while this run streamed.
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
ui.workflow.addEventListener("change", newThread);
ui.newChat.addEventListener("click", newThread);

loadWorkflows();
