// Agent Chat UI's calls, made exactly as it and `useStream` (@langchain/langgraph-sdk/react)
// make them, against a live Citadel Orca serving the `agent` workflow with scripted models.
// The history is read into the SDK's own branching helpers (getBranchContext,
// getMessagesMetadataMap), as useStream does, so regenerate forks from the checkpoint the
// real page would pick.
//
//   node chat_ui.mjs <server base url> [api key]
import { randomUUID } from "node:crypto";
import {
  extractInterrupts,
  getBranchContext,
  getMessagesMetadataMap,
} from "@langchain/langgraph-sdk/ui";
import { check, clientFor, collect, lastValues, runScenarios } from "./support.mjs";

const [base, apiKey] = process.argv.slice(2);
if (!base) throw new Error("usage: node chat_ui.mjs <base> [api key]");
const client = clientFor(base, apiKey);
const GRAPH = "agent";
// Agent Chat UI's submit options (src/components/thread/index.tsx); useStream adds
// onDisconnect "continue" for a resumable stream.
const SUBMIT = { streamMode: ["values"], streamSubgraphs: true, streamResumable: true };

const humanMessage = (text) => ({
  id: randomUUID(),
  type: "human",
  content: [{ type: "text", text }],
});

// useStream's submit: the run streamed on the thread, its id taken from Content-Location.
async function submit(threadId, assistantId, input, options = {}) {
  let created;
  const parts = await collect(
    client.runs.stream(threadId, assistantId, {
      input,
      ...SUBMIT,
      ...options,
      onDisconnect: "continue",
      onRunCreated: (meta) => {
        created = meta;
      },
    }),
  );
  check(created?.run_id, "no run id in Content-Location");
  check(parts[0]?.event === "metadata", `first event ${parts[0]?.event}`);
  check(parts[0].data.run_id === created.run_id, "metadata and Content-Location differ");
  const errors = parts.filter((p) => p.event === "error");
  check(errors.length === 0, `error events: ${JSON.stringify(errors)}`);
  check(parts.every((p) => p.id), "a resumable stream's events all carry an id");
  return { parts, runId: created.run_id, values: lastValues(parts) };
}

// useStream with fetchStateHistory: POST /threads/{id}/history {limit: 10}.
async function historyOf(threadId) {
  const history = await client.threads.getHistory(threadId, { limit: 10 });
  const branchContext = getBranchContext("", history);
  const messages = (values) => (Array.isArray(values?.messages) ? values.messages : []);
  const metadata = getMessagesMetadataMap({ history, getMessages: messages, branchContext });
  return { history, head: branchContext.threadHead, metadata };
}

const kinds = (values) => values.messages.map((m) => m.type).join(",");

async function newThread(text) {
  // useStream creates the thread itself on the first submit, with no metadata.
  const thread = await client.threads.create({ threadId: undefined, metadata: undefined });
  const first = humanMessage(text);
  const turn = await submit(thread.thread_id, GRAPH, { messages: [first] });
  return { threadId: thread.thread_id, first, turn };
}

const scenarios = {
  async "GET /info answers, with and without the key"() {
    for (const headers of [apiKey ? { "X-Api-Key": apiKey } : {}, {}]) {
      const response = await fetch(`${base}/info`, { headers });
      check(response.ok, `/info answered ${response.status}`);
    }
    if (apiKey) {
      // The key is what lets the rest through: the same search without it is refused.
      const refused = await fetch(`${base}/threads/search`, { method: "POST", body: "{}" });
      check(refused.status === 401, `without the key: ${refused.status}`);
    }
  },

  async "a turn streams values, then the thread lists by graph and by assistant"() {
    const { threadId, first, turn } = await newThread("hello from the chat ui");
    check(kinds(turn.values) === "human,ai", kinds(turn.values));
    check(turn.values.messages[0].id === first.id, "the human message lost its id");
    const answer = turn.values.messages[1].content;
    check(answer.startsWith("Scripted answer:"), `answer ${answer}`);

    const [assistant] = await client.assistants.search({ graphId: GRAPH, limit: 1 });
    check(assistant?.assistant_id, "no assistant for the graph");
    const byGraph = await client.threads.search({ metadata: { graph_id: GRAPH }, limit: 100 });
    check(byGraph.some((t) => t.thread_id === threadId), "not listed by graph_id");
    // Agent Chat UI lists by assistant_id when it was configured with an assistant's UUID.
    const byAssistant = await client.threads.search({
      metadata: { assistant_id: assistant.assistant_id },
      limit: 100,
    });
    check(byAssistant.some((t) => t.thread_id === threadId), "not listed by assistant_id");
    const listed = byGraph.find((t) => t.thread_id === threadId);
    check(listed.status === "idle", `status ${listed.status}`);
    check(kinds(listed.values) === "human,ai", "the listed thread has no values");
  },

  async "a run on the assistant's UUID lists under it"() {
    const [assistant] = await client.assistants.search({ graphId: GRAPH, limit: 1 });
    const thread = await client.threads.create();
    const turn = await submit(thread.thread_id, assistant.assistant_id, {
      messages: [humanMessage("by uuid")],
    });
    check(kinds(turn.values) === "human,ai", kinds(turn.values));
    const found = await client.threads.search({
      metadata: { assistant_id: assistant.assistant_id },
      limit: 100,
    });
    check(found.some((t) => t.thread_id === thread.thread_id), "not listed by assistant_id");
  },

  async "the history has the head and a checkpoint to regenerate from"() {
    const { threadId, turn } = await newThread("tell me something");
    const { history, head, metadata } = await historyOf(threadId);
    check(history.length > 1 && history.length <= 10, `history of ${history.length}`);
    check(JSON.stringify(head.values) === JSON.stringify(turn.values), "head is not the end");
    check(head.next.length === 0, `head.next ${head.next}`);
    const ai = metadata.at(-1);
    check(ai.firstSeenState?.parent_checkpoint?.checkpoint_id, "no parent checkpoint for the ai");

    // Regenerate (handleRegenerate): no input, the AI message's parent checkpoint.
    const checkpoint = { ...ai.firstSeenState.parent_checkpoint };
    delete checkpoint.thread_id;
    const again = await submit(threadId, GRAPH, undefined, { checkpoint });
    check(kinds(again.values) === "human,ai", `regenerated ${kinds(again.values)}`);
    check(again.values.messages[1].id !== turn.values.messages[1].id, "same ai message");
    const after = await historyOf(threadId);
    check(kinds(after.head.values) === "human,ai", "the fork is not the head");
    const branches = after.metadata.at(-1).branchOptions ?? [];
    check(branches.length === 2, `branch options ${JSON.stringify(branches)}`);
  },

  async "an interrupt shows, and command.resume continues the run"() {
    const { threadId, turn } = await newThread("note: buy oat milk");
    // useStream's `interrupt`: from the streamed values, else from the history head.
    const streamed = extractInterrupts(turn.values, { isLoading: false });
    const { head } = await historyOf(threadId);
    const fromHistory = extractInterrupts(head.values, { isLoading: false, threadState: head });
    for (const found of [streamed, fromHistory]) {
      check(found?.value?.tool === "save_note", `interrupt ${JSON.stringify(found)}`);
    }
    check((await client.threads.get(threadId)).status === "interrupted", "not interrupted");

    // The resume submit: Agent Chat UI sends `{}` as input alongside the command.
    const resumed = await submit(threadId, GRAPH, {}, { command: { resume: { approved: true } } });
    check(kinds(resumed.values) === "human,ai,tool,ai", kinds(resumed.values));
    check(resumed.values.messages.at(-1).content === "Saved the note.", "the note was not saved");
    check((await client.threads.get(threadId)).status === "idle", "not idle after resuming");
  },
};

await runScenarios(scenarios, process.env.ONLY);
