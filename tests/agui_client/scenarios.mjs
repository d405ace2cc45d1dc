// Runs AG-UI scenarios against a live Citadel Orca with @ag-ui/client's HttpAgent, the
// client CopilotKit and AG-UI apps use. The client throws on ordering violations, but it
// resolves silently when a stream ends without RUN_FINISHED/RUN_ERROR, so every run here
// checks for a terminal event itself.
//
//   node scenarios.mjs http://127.0.0.1:8000      (prints one line per scenario; exit 1 on failure)
import { HttpAgent } from "@ag-ui/client";

const base = process.argv[2];
if (!base) throw new Error("usage: node scenarios.mjs <server base url>");

let counter = 0;
const id = (prefix) => `${prefix}-${Date.now()}-${++counter}`;

function newAgent(workflow = "agent") {
  return new HttpAgent({ url: `${base}/agui/${workflow}`, threadId: id("thread") });
}

function say(agent, text) {
  agent.addMessage({ id: id("user"), role: "user", content: text });
}

async function run(agent, parameters = {}) {
  const seen = { terminal: null, types: [], interrupts: [], pending: [], error: null, text: "" };
  await agent.runAgent(parameters, {
    onEvent: ({ event }) => { seen.types.push(event.type); },
    onTextMessageContentEvent: ({ event }) => { seen.text += event.delta; },
    onRunFinishedEvent: (params) => {
      seen.terminal = "finished";
      if (params.outcome === "interrupt") seen.interrupts = params.interrupts;
      if (params.outcome === "success") seen.pending = params.pendingToolCallIds ?? [];
    },
    onRunErrorEvent: ({ event }) => { seen.terminal = "error"; seen.error = event; },
  });
  if (!seen.terminal) throw new Error(`stream ended without a terminal event: ${seen.types.join(" ")}`);
  return seen;
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const roles = (agent) => agent.messages.map((m) => m.role).join(",");

function uniqueIds(agent) {
  const ids = agent.messages.map((m) => m.id);
  check(new Set(ids).size === ids.length, `duplicate message ids: ${ids}`);
}

function lastText(agent) {
  const last = agent.messages.at(-1);
  check(last.role === "assistant", `last message is ${last.role}, not assistant`);
  return last.content;
}

const scenarios = {
  async "plain answer"() {
    const agent = newAgent();
    say(agent, "hello there");
    const seen = await run(agent);
    check(seen.terminal === "finished", `terminal ${seen.terminal}`);
    check(seen.text === "Scripted answer: hello there", `streamed ${seen.text}`);
    check(roles(agent) === "user,assistant", roles(agent));
    check(lastText(agent) === seen.text, "snapshot text differs from the streamed text");
  },

  async "backend tool call, then a second turn with the full history"() {
    const agent = newAgent();
    say(agent, "search for Falcon");
    const first = await run(agent);
    check(first.types.includes("TOOL_CALL_RESULT"), "no TOOL_CALL_RESULT");
    // The ids streamed must equal the snapshot's, or the client reorders its history.
    check(roles(agent) === "user,assistant,tool,assistant", roles(agent));
    say(agent, "and thanks");
    const second = await run(agent);
    check(second.text === "Scripted answer: and thanks", second.text);
    check(roles(agent) === "user,assistant,tool,assistant,user,assistant", roles(agent));
    uniqueIds(agent);
  },

  async "frontend tool round trip"() {
    const agent = newAgent();
    const tools = [{
      name: "show_banner",
      description: "Show a banner in the page.",
      parameters: { type: "object", properties: { message: { type: "string" } } },
    }];
    say(agent, "frontend please");
    const first = await run(agent, { tools });
    check(first.pending.length === 1, `pending tool calls: ${first.pending}`);
    const call = agent.messages.at(-1).toolCalls?.[0];
    check(call?.function.name === "show_banner", "the last message does not call show_banner");
    agent.addMessage({ id: id("tool"), role: "tool", toolCallId: call.id, content: "banner shown" });
    const second = await run(agent, { tools });
    check(second.text === "Scripted answer: the frontend said banner shown", second.text);
    uniqueIds(agent);
  },

  async "interrupt and approve"() {
    const agent = newAgent();
    say(agent, "note: the crane inspection is on Friday");
    const first = await run(agent);
    check(first.interrupts.length === 1, "no interrupt");
    const [pending] = first.interrupts;
    check(pending.reason === "confirmation" && pending.toolCallId, JSON.stringify(pending));
    const resume = [{ interruptId: pending.id, status: "resolved", payload: { approved: true } }];
    const second = await run(agent, { resume });
    check(second.text === "Saved the note.", second.text);
    check(roles(agent) === "user,assistant,tool,assistant", roles(agent));
  },

  async "interrupt and reject"() {
    const agent = newAgent();
    say(agent, "note: forget this");
    const [pending] = (await run(agent)).interrupts;
    const resume = [{ interruptId: pending.id, status: "resolved", payload: { approved: false } }];
    const second = await run(agent, { resume });
    check(second.text === "The note was not saved.", second.text);
  },

  async "error"() {
    const agent = newAgent();
    say(agent, "please fail");
    const seen = await run(agent);
    check(seen.terminal === "error", `terminal ${seen.terminal}`);
    check(seen.error.code && seen.error.message, JSON.stringify(seen.error));
    check(!seen.error.message.includes("Traceback"), "stack trace in the error");
    say(agent, "hello again");
    check((await run(agent)).text === "Scripted answer: hello again", "the thread is not usable");
  },

  async "rag-chat answer"() {
    const agent = newAgent("rag-chat");
    say(agent, "When is green tea served?");
    const seen = await run(agent);
    check(seen.terminal === "finished" && seen.text.length > 0, `terminal ${seen.terminal}`);
    check(roles(agent) === "user,assistant", roles(agent));
  },
};

let failed = 0;
for (const [name, scenario] of Object.entries(scenarios)) {
  try {
    await scenario();
    console.log(`ok   ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}: ${error.message}`);
  }
}
process.exit(failed ? 1 : 0);
