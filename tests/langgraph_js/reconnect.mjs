// useStream's reconnect after a page reload, against a run the test holds open: the `nested`
// graph (the `gated` graph as a subgraph) waits at its gate after three custom events.
//
// 1. Submit as Agent Chat UI does (useStream adds "messages-tuple" for `messages` and "custom"
//    for onCustomEvent), keeping the run id where useStream keeps it
//    (sessionStorage `lg:stream:{threadId}`, from Content-Location).
// 2. Abort the HTTP stream mid-run (the page goes away); on_disconnect "continue" keeps the run.
// 3. A new useStream (the SDK's StreamOrchestrator, reconnectOnMount) finds the run id and
//    rejoins: runs.joinStream(thread, run, {lastEventId: "-1"}). On its first event this
//    prints {"rejoined": ...} so the test releases the gate; it reads to the end.
// 4. Print {"result": ...}: the events before the abort, the replay, what useStream shows.
//
//   node reconnect.mjs <server base url> <gate label> [api key]
import { StreamOrchestrator } from "@langchain/langgraph-sdk/ui";
import { check, clientFor } from "./support.mjs";

const [base, label, apiKey] = process.argv.slice(2);
if (!label) throw new Error("usage: node reconnect.mjs <base> <gate label> [api key]");
const client = clientFor(base, apiKey);
const session = new Map();
// useStream keeps the run id in window.sessionStorage (reconnectOnMount: true).
globalThis.window = {
  sessionStorage: {
    getItem: (key) => session.get(key) ?? null,
    setItem: (key, value) => session.set(key, value),
    removeItem: (key) => session.delete(key),
  },
};
const say = (line) => console.log(JSON.stringify(line));

const thread = await client.threads.create();
const threadId = thread.thread_id;
const controller = new AbortController();
const before = [];
try {
  for await (const part of client.runs.stream(threadId, "nested", {
    input: { label },
    streamMode: ["values", "messages-tuple", "custom"],
    streamSubgraphs: true,
    streamResumable: true,
    onDisconnect: "continue",
    signal: controller.signal,
    onRunCreated: ({ run_id }) => session.set(`lg:stream:${threadId}`, run_id),
  })) {
    before.push(part);
    // The third custom event is the last before the gate: the run is held from here.
    if (before.filter((p) => p.event.startsWith("custom")).length === 3) controller.abort();
  }
} catch (error) {
  if (error?.name !== "AbortError") throw error;
}
check(controller.signal.aborted, "the stream ended before the gate");
const runId = session.get(`lg:stream:${threadId}`);
check(runId, "no run id kept for the thread");
const status = (await client.runs.get(threadId, runId)).status;

// The reloaded page: a client whose joinStream also records what it yields.
const rejoining = clientFor(base, apiKey);
const replay = [];
const joinStream = rejoining.runs.joinStream.bind(rejoining.runs);
rejoining.runs.joinStream = async function* (...args) {
  check(args[2]?.lastEventId === "-1", `rejoined with ${JSON.stringify(args[2])}`);
  for await (const part of joinStream(...args)) {
    if (replay.length === 0) say({ rejoined: { threadId, runId, status } });
    replay.push(part);
    yield part;
  }
};
const customs = [];
const errors = [];
const page = new StreamOrchestrator(
  {
    fetchStateHistory: true,
    reconnectOnMount: true,
    onCustomEvent: (event) => customs.push(event),
    onError: (error) => errors.push(String(error)),
  },
  { getClient: () => rejoining, getAssistantId: () => "nested", getMessagesKey: () => "messages" },
);
page.initThreadId(threadId);
check(page.tryReconnect(), "useStream found no run to rejoin");
await new Promise((resolve, reject) => {
  const deadline = setTimeout(() => reject(new Error("the rejoined stream never ended")), 120_000);
  const done = () => replay.length > 0 && !page.isLoading && page.historyData.data != null;
  const unsubscribe = page.subscribe(() => {
    if (!done()) return;
    clearTimeout(deadline);
    unsubscribe();
    resolve();
  });
});
const final = await client.runs.get(threadId, runId);
const strip = (parts) => parts.map(({ id, event, data }) => ({ id, event, data }));
say({
  result: {
    threadId,
    runId,
    statusAfterAbort: status,
    finalStatus: final.status,
    before: strip(before),
    replay: strip(replay),
    shown: page.values,
    customs,
    errors,
    keptRunId: session.get(`lg:stream:${threadId}`) ?? null,
  },
});
