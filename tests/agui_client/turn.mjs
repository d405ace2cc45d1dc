// One conversation turn with @ag-ui/client's HttpAgent on a thread that may have been started
// on another surface: the thread's messages are loaded through the Agent Server API (as
// CopilotKit's LangGraph connector does) and sent back with their checkpoint ids.
//
//   node turn.mjs <server base url> <workflow> <thread id> <text>
// prints {"terminal": "finished"|"error", "text": "...", "messages": [...]} as one JSON line.
import { HttpAgent } from "@ag-ui/client";

const [base, workflow, threadId, text] = process.argv.slice(2);
if (!text) throw new Error("usage: node turn.mjs <base> <workflow> <thread id> <text>");

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

const state = await fetch(`${base}/threads/${threadId}/state`);
const history = state.ok ? ((await state.json()).values?.messages ?? []).map(toAgui) : [];
const agent = new HttpAgent({ url: `${base}/agui/${workflow}`, threadId, initialMessages: history });
agent.addMessage({ id: `user-${Date.now()}`, role: "user", content: text });
const seen = { terminal: null, text: "" };
await agent.runAgent({}, {
  onTextMessageContentEvent: ({ event }) => { seen.text += event.delta; },
  onRunFinishedEvent: () => { seen.terminal = "finished"; },
  onRunErrorEvent: ({ event }) => { seen.terminal = "error"; seen.error = event; },
});
console.log(JSON.stringify({ ...seen, messages: agent.messages }));
