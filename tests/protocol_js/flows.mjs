// Runs the JS SDK's ThreadStream (the streaming protocol over SSE, what @langchain/react's
// useStream drives) against a live Citadel Orca, and prints one JSON line per flow.
//
//   node flows.mjs <base url> <flow> [api key] [other identity's api key]
//
// Flows: `stream` (messages and values of a run to its end), `interrupt` (an approval
// answered with input.respond), `resume` (a stream closed mid-run, reopened with `since`),
// `refused` (another identity's thread). Exit 1 with the error on failure.
import { randomUUID } from "node:crypto";
import { ProtocolSseTransportAdapter, ThreadStream } from "@langchain/langgraph-sdk";

const [base, flow, key, otherKey] = process.argv.slice(2);
if (!base || !flow) throw new Error("usage: node flows.mjs <base url> <flow> [key] [other key]");

const TIMEOUT_MS = 30_000;

function headersFor(apiKey) {
  return apiKey ? { "x-api-key": apiKey } : {};
}

function transport(threadId, apiKey = key) {
  return new ProtocolSseTransportAdapter({ apiUrl: base, threadId, defaultHeaders: headersFor(apiKey) });
}

function openThread(assistantId, threadId = randomUUID(), apiKey = key) {
  return new ThreadStream(transport(threadId, apiKey), { assistantId });
}

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function until(check, what) {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function contents(values) {
  return (values?.messages ?? []).map((m) => (typeof m.content === "string" ? m.content : m.text));
}

async function streamFlow() {
  const thread = openThread("agent");
  const messages = thread.messages;
  await thread.run.start({ input: { messages: [{ role: "user", content: "hello there" }] } });
  const texts = [];
  const reading = (async () => {
    for await (const message of messages) texts.push(await message.text);
  })();
  const final = await within(thread.output, "the run's final values");
  await within(reading, "the messages projection to close");
  const snapshots = [];
  for await (const values of thread.values) snapshots.push(contents(values));
  const state = await thread.state.get({ namespace: [] });
  const tree = await thread.agent.getTree({});
  await thread.close();
  return { final: contents(final), texts, snapshots: snapshots.length, state: contents(state.values), tree };
}

async function interruptFlow() {
  const thread = openThread("agent");
  const threadId = thread.threadId;
  await thread.run.start({ input: { messages: [{ role: "user", content: "note: buy milk" }] } });
  await within(thread.values, "the interrupted run's values");
  await until(() => thread.interrupted && thread.interrupts.length > 0, "the interrupt to arrive");
  const [asked] = thread.interrupts;
  await thread.input.respond({ namespace: [], interrupt_id: asked.interruptId, response: { approved: true } });
  const events = await thread.subscribe({ channels: ["values", "lifecycle"] });
  let last = null;
  const statuses = [];
  for await (const event of events) {
    if (event.method === "values") last = event.params.data;
    if (event.method === "lifecycle" && event.params.namespace.length === 0) {
      statuses.push(event.params.data.event);
      if (event.params.data.event === "completed") break;
    }
  }
  const checkpoints = await thread.state.listCheckpoints({ limit: 50 });
  await thread.close();
  return { threadId, asked: asked.payload, statuses, final: contents(last), checkpoints: checkpoints.checkpoints.length };
}

async function collect(handle, stopAfter) {
  const seen = [];
  for await (const event of handle.events) {
    seen.push(event);
    if (stopAfter(event, seen)) break;
  }
  handle.close();
  return seen;
}

const rootEnd = (event) =>
  event.method === "lifecycle" && event.params.namespace.length === 0 &&
  ["completed", "failed", "interrupted"].includes(event.params.data.event);

async function resumeFlow() {
  const thread = openThread("gated");
  const label = process.env.GATED_LABEL;
  await thread.run.start({ input: { label } });
  const filter = { channels: ["values", "updates", "custom", "lifecycle"] };
  const first = transport(thread.threadId);
  const before = await collect(first.openEventStream(filter), (event) => event.method === "custom");
  await first.close();
  // The test releases the gate once it sees this line: the rest is produced while away.
  console.log(JSON.stringify({ disconnected: before.at(-1).seq }));
  const again = transport(thread.threadId);
  const after = await within(
    collect(again.openEventStream({ ...filter, since: before.at(-1).seq }), rootEnd),
    "the resumed stream to reach the run's end",
  );
  await again.close();
  const whole = transport(thread.threadId);
  const full = await within(collect(whole.openEventStream(filter), rootEnd), "a full replay");
  await whole.close();
  await thread.close();
  const ids = (events) => events.map((event) => event.event_id);
  return { before: ids(before), after: ids(after), full: ids(full), methods: full.map((e) => e.method) };
}

async function refusedFlow() {
  const owner = openThread("echo");
  await owner.run.start({ input: { messages: [{ role: "user", content: "mine" }] } });
  await within(owner.output, "the owner's run");
  await owner.close();
  const intruder = openThread("echo", owner.threadId, otherKey);
  const outcome = {};
  try {
    await intruder.run.start({ input: { messages: [{ role: "user", content: "theirs" }] } });
    outcome.start = "accepted";
  } catch (error) {
    outcome.start = { status: error.status, message: error.message };
  }
  const stream = transport(owner.threadId, otherKey).openEventStream({ channels: ["values"] });
  try {
    await stream.ready;
    outcome.stream = "opened";
  } catch (error) {
    outcome.stream = { status: error.status, message: error.message };
  }
  stream.close();
  try {
    await intruder.state.get({ namespace: [] });
    outcome.state = "read";
  } catch (error) {
    outcome.state = { status: error.status, message: error.message };
  }
  await intruder.close();
  return outcome;
}

const flows = { stream: streamFlow, interrupt: interruptFlow, resume: resumeFlow, refused: refusedFlow };
try {
  console.log(JSON.stringify({ flow, result: await flows[flow]() }));
  process.exit(0);
} catch (error) {
  console.error(error?.stack ?? String(error));
  process.exit(1);
}
