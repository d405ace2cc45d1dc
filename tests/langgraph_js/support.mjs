// What every script here shares: the SDK client as Agent Chat UI builds it, the scenario
// runner (one "ok   <name>" or "FAIL <name>: <why>" line each, exit 1 on any failure).
import { Client } from "@langchain/langgraph-sdk";

export function clientFor(base, apiKey) {
  // Agent Chat UI: createClient(apiUrl, apiKey ?? undefined); the SDK sends it as X-Api-Key.
  return new Client({ apiUrl: base, apiKey: apiKey || undefined });
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

export async function collect(parts) {
  const seen = [];
  for await (const part of parts) seen.push(part);
  return seen;
}

export const lastValues = (parts) => parts.filter((p) => p.event === "values").at(-1)?.data;

export async function runScenarios(scenarios, only) {
  let failed = false;
  for (const [name, scenario] of Object.entries(scenarios)) {
    if (only && !name.includes(only)) continue;
    try {
      await scenario();
      console.log(`ok   ${name}`);
    } catch (error) {
      failed = true;
      console.log(`FAIL ${name}: ${error?.stack ?? error}`);
    }
  }
  process.exit(failed ? 1 : 0);
}
