// useStream itself, without React: @langchain/langgraph-sdk's StreamOrchestrator is the
// framework-agnostic core its hooks run on (thread creation, the submit, merging
// messages-tuple chunks and values, interrupts, history refetch, branching). Configured as
// Agent Chat UI configures useStream: fetchStateHistory, onCustomEvent, the `agent` graph.
//
//   node use_stream.mjs <server base url> [api key]
import { randomUUID } from "node:crypto";
import { StreamOrchestrator } from "@langchain/langgraph-sdk/ui";
import { check, clientFor, runScenarios } from "./support.mjs";

const [base, apiKey] = process.argv.slice(2);
if (!base) throw new Error("usage: node use_stream.mjs <base> [api key]");
const client = clientFor(base, apiKey);
const SUBMIT = { streamMode: ["values"], streamSubgraphs: true, streamResumable: true };

function useStream() {
  const errors = [];
  const stream = new StreamOrchestrator(
    {
      fetchStateHistory: true,
      onCustomEvent: () => {},
      onError: (error) => errors.push(error),
    },
    { getClient: () => client, getAssistantId: () => "agent", getMessagesKey: () => "messages" },
  );
  // What reading `stream.messages` in a React component registers.
  stream.trackStreamMode("messages-tuple", "values");
  stream.initThreadId(undefined);
  return { stream, errors };
}

async function submit({ stream, errors }, values, options = {}) {
  await stream.submit(values, { ...SUBMIT, ...options });
  check(!stream.isLoading, "still loading after the submit settled");
  check(errors.length === 0 && stream.error == null, `errors: ${errors} ${stream.error}`);
}

const human = (text) => ({ id: randomUUID(), type: "human", content: [{ type: "text", text }] });
const kinds = (stream) => stream.messages.map((m) => m.type).join(",");

const scenarios = {
  async "a submit creates the thread, streams the answer, and ends on the history head"() {
    const hook = useStream();
    const chunks = [];
    hook.stream.subscribe(() => {
      const last = hook.stream.messages.at(-1);
      if (last?.type === "ai") chunks.push(String(last.content));
    });
    await submit(hook, { messages: [human("hello from use stream")] });
    check(hook.stream.threadId, "no thread id");
    check(kinds(hook.stream) === "human,ai", kinds(hook.stream));
    const answer = hook.stream.messages[1].content;
    check(answer.startsWith("Scripted answer:"), answer);
    // The answer grew chunk by chunk (messages-tuple), not only in one values event.
    check(new Set(chunks).size > 2, `partial answers seen: ${new Set(chunks).size}`);
    const head = hook.stream.historyData.data?.[0];
    check(head?.checkpoint?.checkpoint_id, "the history was not refetched");
    check(JSON.stringify(head.values.messages) === JSON.stringify(hook.stream.messages), "head");
  },

  async "regenerate forks from the message's parent checkpoint"() {
    const hook = useStream();
    await submit(hook, { messages: [human("first try")] });
    const ai = hook.stream.messages[1];
    const meta = hook.stream.getMessagesMetadata(ai, 1);
    check(meta?.firstSeenState?.parent_checkpoint, "no parent checkpoint");
    await submit(hook, undefined, { checkpoint: meta.firstSeenState.parent_checkpoint });
    check(kinds(hook.stream) === "human,ai", kinds(hook.stream));
    check(hook.stream.messages[1].id !== ai.id, "the same answer came back");
    const again = hook.stream.getMessagesMetadata(hook.stream.messages[1], 1);
    check(again?.branchOptions?.length === 2, `branches ${JSON.stringify(again?.branchOptions)}`);
  },

  async "an interrupt shows in `interrupt`, and a resume command clears it"() {
    const hook = useStream();
    await submit(hook, { messages: [human("note: water the plants")] });
    const pending = hook.stream.interrupt;
    check(pending?.value?.tool === "save_note", `interrupt ${JSON.stringify(pending)}`);
    await submit(hook, {}, { command: { resume: { approved: true } } });
    check(hook.stream.interrupt === undefined, `still ${JSON.stringify(hook.stream.interrupt)}`);
    check(kinds(hook.stream) === "human,ai,tool,ai", kinds(hook.stream));
    check(hook.stream.messages.at(-1).content === "Saved the note.", "not saved");
  },
};

await runScenarios(scenarios, process.env.ONLY);
