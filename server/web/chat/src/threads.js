// Past conversations through the Agent Server API, the way Agent Chat UI reads them:
// `POST /threads/search` lists a workflow's threads, `GET /threads/{id}/state` gives one's
// checkpointed messages. Nothing here touches the page (conversations.js, past.js draw it).
//
// A thread's messages are LangChain message dicts (`{type: "human"|"ai"|"tool", content, id,
// tool_calls?, tool_call_id?}`); the AG-UI client wants `{role, content, id, toolCalls?,
// toolCallId?}`. The ids are kept as they are: a run's `messages` must name what the
// checkpoint holds under the same ids, or the server takes them for new or edited messages.

/** How many conversations the list shows: the most recently active ones. */
export const LIST_LIMIT = 30;

/** A failed request: the HTTP status and the parsed body, as `describe()` in main.js reads them. */
export class ApiError extends Error {
  constructor(status, payload, what) {
    const detail = typeof payload?.detail === "string" ? payload.detail : `HTTP ${status}`;
    super(`${what}: ${detail}`);
    this.status = status;
    this.payload = payload;
  }
}

/** Send a JSON request to the same origin, with no credentials beyond what the browser has. */
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body ? JSON.stringify(body) : undefined,
  });
  const payload = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, payload, `${method} ${path}`);
  return payload;
}

/** List the caller's threads of one workflow, most recently updated first. */
export function searchThreads(workflow, limit = LIST_LIMIT) {
  return api("POST", "/threads/search", {
    metadata: { graph_id: workflow },
    limit,
    sort_by: "updated_at",
    sort_order: "desc",
  });
}

/** Return the thread record: its metadata says which workflow (`graph_id`) it belongs to. */
export function getThread(threadId) {
  return api("GET", `/threads/${encodeURIComponent(threadId)}`);
}

/** Return the thread's current state: `values.messages`, `interrupts`. */
export function getState(threadId) {
  return api("GET", `/threads/${encodeURIComponent(threadId)}/state`);
}

/** Return the text of a message's content: a string, or the text parts of a block list. */
export function textOf(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part) => (typeof part === "string" ? part : part?.type === "text" ? part.text ?? "" : ""))
    .join("");
}

/** Return the first thing the user said in `messages` (LangChain dicts), or "". */
export function firstUserText(messages) {
  for (const m of Array.isArray(messages) ? messages : []) {
    if (m?.type === "human") {
      const text = textOf(m.content).trim();
      if (text) return text;
    }
  }
  return "";
}

/**
 * Turn checkpointed LangChain messages into the AG-UI messages a run sends back.
 *
 * A human message whose content is not a plain string (a multimodal one, sent by another
 * surface) is left out: the server compares a human message's content with the checkpoint's
 * under the same id and would take a re-encoded copy for an edit, and regenerate from it
 * (ag-ui-langgraph 0.0.47, `_detect_edited_human_message`). Leaving a message out is safe:
 * the server keeps the checkpoint's messages and adds only ids it has not seen.
 */
export function toAguiMessages(messages) {
  const out = [];
  for (const m of Array.isArray(messages) ? messages : []) {
    if (!m?.id) continue;
    if (m.type === "human") {
      if (typeof m.content === "string") out.push({ id: m.id, role: "user", content: m.content });
    } else if (m.type === "ai") {
      const calls = (m.tool_calls ?? []).map((call) => ({
        id: call.id,
        type: "function",
        function: { name: call.name, arguments: JSON.stringify(call.args ?? {}) },
      }));
      out.push({
        id: m.id,
        role: "assistant",
        content: textOf(m.content),
        ...(calls.length ? { toolCalls: calls } : {}),
      });
    } else if (m.type === "tool") {
      out.push({ id: m.id, role: "tool", content: textOf(m.content), toolCallId: m.tool_call_id });
    }
  }
  return out;
}

/**
 * Turn a thread state's open interrupts into AG-UI interrupts, as the server's adapter maps
 * them on a live run (ag-ui-langgraph `lg_interrupt_to_agui`): the same id, reason, message
 * and tool call, so the page can answer them with `resume` as if the run had just ended.
 */
export function toAguiInterrupts(state) {
  return (state?.interrupts ?? [])
    .filter((i) => i?.id)
    .map((i) => {
      const value = i.value;
      const dict = value && typeof value === "object" ? value : {};
      const toolCallId = dict.toolCallId ?? dict.tool_call_id;
      const message = typeof value === "string" ? value : dict.message;
      return {
        id: i.id,
        reason: dict.reason ?? "langgraph:interrupt",
        ...(typeof message === "string" ? { message } : {}),
        ...(toolCallId ? { toolCallId } : {}),
      };
    });
}
