// What one AG-UI run draws: its events, as `@ag-ui/client` hands them to a subscriber, turned
// into bubbles, tool-call cards, errors and sources in the transcript.
import { asPassages, assistantMessage, errorLine, toolCard } from "./render.js";

/**
 * Build the subscriber for one run: it draws the run's events into the transcript.
 * @param {object} t - the thread the run is on (main.js `emptyThread`): its bubbles and cards.
 * @param {{lastText: HTMLElement|null, streamed: object[], sources: object[]|null,
 *   failed: boolean}} turn - this run's bookkeeping.
 * @param {{append: Function, followStream: Function, setStatus: Function,
 *   showSources: Function}} view - the page's drawing helpers.
 */
export function subscriberFor(t, turn, { append, followStream, setStatus, showSources }) {
  const card = (id, name) => {
    let c = t.tools.get(id);
    if (!c) {
      c = toolCard(id, name ?? "tool");
      t.tools.set(id, c);
      append(c.el);
    }
    return c;
  };
  return {
    onRunStartedEvent() {
      setStatus("Working…", "busy");
    },
    onStepStartedEvent({ event }) {
      setStatus(`Working: ${event.stepName}`, "busy");
    },
    onTextMessageStartEvent({ event }) {
      if (event.role && event.role !== "assistant") return;
      if (!t.texts.has(event.messageId)) {
        const msg = assistantMessage(event.messageId);
        t.texts.set(event.messageId, msg);
        append(msg.el);
      }
      turn.streamed.push(t.texts.get(event.messageId));
      turn.lastText = t.texts.get(event.messageId).el;
    },
    onTextMessageContentEvent({ event }) {
      const msg = t.texts.get(event.messageId);
      if (!msg) return;
      msg.append(event.delta);
      followStream();
    },
    onTextMessageEndEvent({ event }) {
      t.texts.get(event.messageId)?.done();
    },
    onToolCallStartEvent({ event }) {
      // A resumed run announces the interrupted call again, without its arguments (see
      // server/agui/agent.py): a card already drawn keeps the arguments it shows.
      const known = t.tools.has(event.toolCallId);
      const c = card(event.toolCallId, event.toolCallName);
      if (!known) c.streamArgs(null);
    },
    onToolCallArgsEvent({ event }) {
      t.tools.get(event.toolCallId)?.streamArgs(event.delta);
    },
    onToolCallEndEvent({ event }) {
      t.tools.get(event.toolCallId)?.streamArgs(true);
    },
    onToolCallResultEvent({ event }) {
      card(event.toolCallId).setResult(String(event.content ?? ""));
    },
    onStateSnapshotEvent({ event }) {
      const sources = asPassages(event.snapshot?.sources);
      if (sources) turn.sources = sources;
    },
    onMessagesSnapshotEvent({ event, input }) {
      // A node that answers without streaming (rag-chat when nothing is found) shows its
      // answer only here: draw the run's new assistant texts that no TEXT_MESSAGE drew.
      // A node that builds its own message may store it under another id than the one it
      // streamed with (rag-chat's generate does): the same text streamed in this run is that
      // message, so it is recorded under the new id rather than drawn twice.
      const before = new Set(input.messages.map((m) => m.id));
      for (const m of event.messages) {
        if (m.role !== "assistant" || before.has(m.id) || t.texts.has(m.id)) continue;
        if (typeof m.content !== "string" || !m.content) continue;
        const twin = turn.streamed.find((s) => s.text === m.content);
        if (twin) {
          t.texts.set(m.id, twin);
          continue;
        }
        const msg = assistantMessage(m.id);
        msg.append(m.content);
        msg.done();
        t.texts.set(m.id, msg);
        turn.lastText = append(msg.el, turn.lastText);
      }
    },
    onRunErrorEvent({ event }) {
      turn.failed = true;
      append(errorLine(event.message || "The run failed.", event.code));
    },
    onRunFinishedEvent() {
      // Interrupts are read from agent.pendingInterrupts once the run is over (see `run`):
      // the client sets them after the subscribers have seen this event.
      for (const msg of t.texts.values()) msg.done();
      showSources(turn);
    },
  };
}
