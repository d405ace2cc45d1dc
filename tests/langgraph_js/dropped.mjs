// A stream whose connection drops mid-run (the test cuts it at a proxy), read through the SDK:
// it reconnects by itself to the stream's `Location` with the `Last-Event-ID` it last saw, so
// the reader sees every event once, in order, with no gap. The run is the `nested` graph,
// held at its gate after three custom events.
//
//   stream: runs.stream with Agent Chat UI's options (useStream's submit)
//   join:   runs.create, then runs.joinStream(..., {lastEventId: "-1"}) (useStream's rejoin)
//
// Prints {"held": ...} once the three custom events are in (the test then cuts and
// releases the gate), then {"result": ...}.
//
//   node dropped.mjs <proxy url> <gate label> <stream|join> [api key]
import { check, clientFor } from "./support.mjs";

const [base, label, how, apiKey] = process.argv.slice(2);
if (!["stream", "join"].includes(how)) {
  throw new Error("usage: node dropped.mjs <base> <gate label> <stream|join> [api key]");
}
const client = clientFor(base, apiKey);
const say = (line) => console.log(JSON.stringify(line));
const OPTIONS = {
  streamMode: ["values", "messages-tuple", "custom"],
  streamSubgraphs: true,
  streamResumable: true,
};

const { thread_id: threadId } = await client.threads.create();
let runId;
let parts;
if (how === "stream") {
  parts = client.runs.stream(threadId, "nested", {
    input: { label },
    ...OPTIONS,
    onDisconnect: "continue",
    onRunCreated: (meta) => {
      runId = meta.run_id;
    },
  });
} else {
  runId = (await client.runs.create(threadId, "nested", { input: { label }, ...OPTIONS })).run_id;
  parts = client.runs.joinStream(threadId, runId, { lastEventId: "-1" });
}

const seen = [];
for await (const part of parts) {
  seen.push({ id: part.id, event: part.event, data: part.data });
  if (seen.filter((p) => p.event.startsWith("custom")).length === 3 && !seen.held) {
    seen.held = true;
    say({ held: { threadId, runId } });
  }
}
check(seen.held, "the stream ended before the gate");
const final = await client.runs.get(threadId, runId);
say({ result: { threadId, runId, finalStatus: final.status, parts: seen } });
