// A past conversation drawn from its checkpoint: what the user and the assistant said, and
// each tool call with its result, as the live transcript would have shown them.
import { assistantMessage, toolCard, userMessage } from "./render.js";
import { textOf } from "./threads.js";

/**
 * Build the transcript of a thread's checkpointed messages (LangChain dicts).
 * @param {object[]} messages - the state's `values.messages`.
 * @param {Set<string>} waiting - ids of tool calls an open interrupt waits on.
 * @returns {{nodes: HTMLElement[], texts: Map, tools: Map, lastText: HTMLElement|null}} the
 *   elements in order, the assistant bubbles and tool cards by id (as a live run files them),
 *   and the last answer's bubble (the sources go under it).
 */
export function drawPast(messages, waiting) {
  const nodes = [];
  const texts = new Map();
  const tools = new Map();
  const answered = new Set();
  let lastText = null;
  for (const m of Array.isArray(messages) ? messages : []) {
    if (m?.type === "human") {
      const text = textOf(m.content);
      if (text) nodes.push(userMessage(text));
    } else if (m?.type === "ai") {
      const text = textOf(m.content);
      if (text) {
        const msg = assistantMessage(m.id);
        msg.append(text);
        msg.done();
        texts.set(m.id, msg);
        nodes.push((lastText = msg.el));
      }
      for (const call of m.tool_calls ?? []) {
        const card = toolCard(call.id, call.name ?? "tool");
        card.streamArgs(JSON.stringify(call.args ?? {}));
        card.streamArgs(true);
        tools.set(call.id, card);
        nodes.push(card.el);
      }
    } else if (m?.type === "tool") {
      tools.get(m.tool_call_id)?.setResult(textOf(m.content));
      answered.add(m.tool_call_id);
    }
  }
  // A call with no result either waits for an approval (its card says so once the approval
  // card is drawn) or belongs to a run that stopped before it ran.
  for (const [id, card] of tools) if (!answered.has(id) && !waiting.has(id)) card.setUnanswered();
  return { nodes, texts, tools, lastText };
}
