// One conversation turn with @ag-ui/client's HttpAgent on a thread that may have been started
// on another surface: the thread's messages are loaded through the Agent Server API (as
// CopilotKit's LangGraph connector does) and sent back with their checkpoint ids.
//
//   node turn.mjs <server base url> <workflow> <thread id> <text> [bearer token]
// prints {"terminal": "finished"|"error", "text": "...", "messages": [...]} as one JSON line,
// or {"terminal": "refused", "status": <HTTP status>, ...} when the server refuses the run.
import { HttpAgent } from "@ag-ui/client";

const [base, workflow, threadId, text, token] = process.argv.slice(2);
if (!text) throw new Error("usage: node turn.mjs <base> <workflow> <thread id> <text> [token]");
const headers = token ? { Authorization: `Bearer ${token}` } : {};

function toAgui(message) {
  const content = typeof message.content === "string" ? message.content : "";
  if (message.type === "human") return { id: message.id, role: "user", content };
  if (message.type === "tool") {
    return { id: message.id, role: "tool", content, toolCallId: message.tool_call_id };
  }
  const toolCalls = (message.tool_calls ?? []).map((call) => ({
    id: call.id,
    type: "function",
    function: { name: call.name, arguments: JSON.stringify(call.args ?? {}) },
  }));
  return { id: message.id, role: "assistant", content, ...(toolCalls.length ? { toolCalls } : {}) };
}

const state = await fetch(`${base}/threads/${threadId}/state`, { headers });
const history = state.ok ? ((await state.json()).values?.messages ?? []).map(toAgui) : [];
const agent = new HttpAgent({
  url: `${base}/agui/${workflow}`, threadId, initialMessages: history, headers,
});
agent.addMessage({ id: `user-${Date.now()}`, role: "user", content: text });
const seen = { terminal: null, text: "" };
try {
  await agent.runAgent({}, {
    onTextMessageContentEvent: ({ event }) => { seen.text += event.delta; },
    onRunFinishedEvent: () => { seen.terminal = "finished"; },
    onRunErrorEvent: ({ event }) => { seen.terminal = "error"; seen.error = event; },
  });
} catch (error) {
  // The client rejects a non-2xx answer with the status on the error (before any event).
  if (typeof error?.status !== "number") throw error;
  Object.assign(seen, { terminal: "refused", status: error.status, error: error.payload });
}
console.log(JSON.stringify({ ...seen, messages: agent.messages }));
