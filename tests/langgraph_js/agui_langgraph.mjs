// CopilotKit's LangGraph connector, @ag-ui/langgraph's LangGraphAgent({deploymentUrl, graphId}),
// against a live Citadel Orca's Agent Server API: it finds the assistant, reads the graph and
// its schemas, creates and reads the thread, streams the run in events/values/updates/
// messages-tuple modes, and turns that into AG-UI events in Node.
//
//   node agui_langgraph.mjs <server base url> [api key]
import { randomUUID } from "node:crypto";
import { LangGraphAgent } from "@ag-ui/langgraph";
import { check, clientFor, runScenarios } from "./support.mjs";

const [base, apiKey] = process.argv.slice(2);
if (!base) throw new Error("usage: node agui_langgraph.mjs <base> [api key]");
const client = clientFor(base, apiKey);

function newAgent(threadId = randomUUID()) {
  return new LangGraphAgent({
    deploymentUrl: base,
    graphId: "agent",
    langsmithApiKey: apiKey || undefined,
    threadId,
  });
}

function say(agent, text) {
  agent.addMessage({ id: randomUUID(), role: "user", content: text });
}

async function run(agent, parameters = {}) {
  const seen = { types: [], text: "", terminal: null, error: null, outcome: null };
  await agent.runAgent(parameters, {
    onEvent: ({ event }) => {
      seen.types.push(event.type);
    },
    onTextMessageContentEvent: ({ event }) => {
      seen.text += event.delta;
    },
    onRunFinishedEvent: ({ event }) => {
      seen.terminal = "finished";
      seen.outcome = event.outcome ?? null;
    },
    onRunErrorEvent: ({ event }) => {
      seen.terminal = "error";
      seen.error = event;
    },
  });
  check(seen.terminal === "finished", `terminal ${seen.terminal}: ${JSON.stringify(seen.error)}`);
  return seen;
}

function inOrder(types) {
  // RUN_STARTED first, RUN_FINISHED last, the text message opened, filled and closed between.
  check(types[0] === "RUN_STARTED", `first ${types[0]}`);
  check(types.at(-1) === "RUN_FINISHED", `last ${types.at(-1)}`);
  const start = types.indexOf("TEXT_MESSAGE_START");
  const content = types.indexOf("TEXT_MESSAGE_CONTENT");
  const end = types.lastIndexOf("TEXT_MESSAGE_END");
  check(start > 0 && start < content && content < end, `text events ${types.join(" ")}`);
}

const roles = (agent) => agent.messages.map((m) => m.role).join(",");

const scenarios = {
  async "a full turn, then a second turn on the same thread"() {
    const threadId = randomUUID();
    const agent = newAgent(threadId);
    say(agent, "hello from copilotkit");
    const first = await run(agent);
    inOrder(first.types);
    check(first.text === "Scripted answer: hello from copilotkit", `streamed ${first.text}`);
    check(roles(agent) === "user,assistant", roles(agent));

    say(agent, "and once more");
    const second = await run(agent);
    inOrder(second.types);
    check(second.text === "Scripted answer: and once more", `streamed ${second.text}`);
    check(roles(agent) === "user,assistant,user,assistant", roles(agent));

    // One thread on the server, both turns in it, listed for Agent Chat UI too.
    const state = await client.threads.getState(threadId);
    const kinds = state.values.messages.map((m) => m.type).join(",");
    check(kinds === "human,ai,human,ai", `server thread ${kinds}`);
    const runs = await client.runs.list(threadId);
    check(runs.length === 2 && runs.every((r) => r.status === "success"), "two successful runs");
  },

  async "an interrupt ends the run, and AG-UI resume approves it"() {
    const agent = newAgent();
    say(agent, "note: the lift is out of order");
    const first = await run(agent);
    const interrupt = first.types.includes("CUSTOM");
    check(interrupt, `no on_interrupt event: ${first.types.join(" ")}`);
    const state = await client.threads.getState(agent.threadId);
    const [pending] = state.tasks.flatMap((task) => task.interrupts ?? []);
    check(pending?.value?.tool === "save_note", `pending ${JSON.stringify(pending)}`);

    const second = await run(agent, {
      resume: [{ interruptId: pending.id, status: "resolved", payload: { approved: true } }],
    });
    check(second.text === "Saved the note.", `streamed ${second.text}`);
    const after = await client.threads.get(agent.threadId);
    check(after.status === "idle", `thread ${after.status}`);
  },
};

await runScenarios(scenarios, process.env.ONLY);
