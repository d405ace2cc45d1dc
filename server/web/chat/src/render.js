// DOM pieces of the transcript: messages, tool-call cards, sources and approval cards.
//
// Everything a server or a model wrote goes in as text (textContent), never as HTML, so a
// passage or an answer that contains markup is shown, not run.

/**
 * Create an element.
 * @param {string} tag - tag name, with optional classes: "div.msg.user".
 * @param {Record<string, string>} [attrs] - attributes; `text` sets the text content.
 * @param {...(Node|string|null|undefined)} children - appended in order; null is skipped.
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") el.textContent = value;
    else el.setAttribute(key, value);
  }
  for (const child of children) {
    if (child != null) el.append(child);
  }
  return el;
}

/** Shorten text to `max` characters on a word boundary, with an ellipsis. */
export function shorten(text, max) {
  const flat = String(text).replace(/\s+/g, " ").trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max);
  const space = cut.lastIndexOf(" ");
  return `${space > max / 2 ? cut.slice(0, space) : cut}…`;
}

/** Pretty-print a JSON string; return it unchanged when it is not JSON. */
export function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** Return `value` when it is a non-empty list of `{source, text}` passages, else null. */
export function asPassages(value) {
  const ok = Array.isArray(value) && value.length > 0 &&
    value.every((p) => p && typeof p === "object" && "source" in p && "text" in p);
  return ok ? value : null;
}

/** Render a user's message. */
export function userMessage(text) {
  return h("div.msg.user", {}, h("div.bubble", { text }));
}

/**
 * Render an assistant message that fills as deltas arrive.
 * @returns {{el: HTMLElement, text: string, append: (delta: string) => void, done: () => void}}
 */
export function assistantMessage(messageId) {
  const body = h("div.bubble");
  const el = h("div.msg.assistant.streaming", { "data-message-id": messageId }, body);
  return {
    el,
    get text() {
      return body.textContent;
    },
    append(delta) {
      body.textContent += delta;
    },
    done() {
      el.classList.remove("streaming");
    },
  };
}

/** Render an error line: what went wrong, in the chat, instead of a crash. */
export function errorLine(message, code) {
  return h(
    "div.msg.error",
    { role: "alert" },
    h("strong", { text: "Error" }),
    code ? h("code", { text: code }) : null,
    h("span", { text: message }),
  );
}

/** Render a passage list: source name, score and a snippet whose full text is its tooltip. */
export function passageList(passages) {
  return h(
    "ol.passages",
    {},
    ...passages.map((p) =>
      h(
        "li",
        {},
        // A source is often a server path: its file name reads best, the whole path is the tooltip.
        h("span.source", { text: String(p.source).split(/[\\/]/).pop() || String(p.source), title: String(p.source) }),
        typeof p.score === "number" ? h("span.score", { text: p.score.toFixed(2) }) : null,
        h("p.snippet", { text: shorten(p.text, 220), title: String(p.text) }),
      ),
    ),
  );
}

/** Render the sources an answer drew on, shown under it. */
export function sourcesBlock(passages) {
  return h(
    "details.sources",
    { open: "" },
    h("summary", { text: `Sources (${passages.length})` }),
    passageList(passages),
  );
}

/**
 * Render a tool call as a collapsible card with its arguments and, later, its result.
 * @returns {{el: HTMLElement, streamArgs: Function, setResult: Function, setVerdict: Function,
 *   setUnanswered: Function}}
 */
export function toolCard(toolCallId, name) {
  const badge = h("span.badge.running", { text: "running" });
  const brief = h("span.brief");
  const args = h("pre.args", { text: "" });
  const result = h("div.result", {}, h("p.muted", { text: "Waiting for the result…" }));
  const el = h(
    "details.tool",
    { "data-tool-call-id": toolCallId },
    h("summary", {}, h("span.icon", { text: "⚙", "aria-hidden": "true" }),
      h("code.name", { text: name }), brief, badge),
    h("div.body", {}, h("h4", { text: "Arguments" }), args, h("h4", { text: "Result" }), result),
  );
  const setBadge = (text, kind) => {
    badge.textContent = text;
    badge.className = `badge ${kind}`;
  };
  // A rejected call still gets a result (the refusal); its badge keeps saying "rejected".
  let rejected = false;
  let argsText = "";
  return {
    el,
    /** Mark a call from a past run that has no result (the run stopped before it). */
    setUnanswered() {
      setBadge("no result", "waiting");
      result.replaceChildren(h("p.muted", { text: "No result was recorded." }));
    },
    /** Mark the call as waiting for approval, approved or rejected. */
    setVerdict(approved) {
      rejected = approved === false;
      if (approved === null) setBadge("needs approval", "waiting");
      else setBadge(approved ? "approved" : "rejected", approved ? "done" : "rejected");
    },
    /**
     * Take the arguments as they stream: `null` starts them afresh, a string adds a delta,
     * and `true` ends them, showing them parsed. The card keeps its own buffer because a
     * producer may stream a call again on a later run (a resume re-sends the interrupted
     * call), and the client then appends the repeat to the arguments it already holds.
     */
    streamArgs(delta) {
      if (delta === null) argsText = "";
      else if (typeof delta === "string") argsText += delta;
      let parsed = null;
      try {
        parsed = delta === true ? JSON.parse(argsText || "{}") : null;
      } catch {
        // Not JSON after all: leave the text as it came.
      }
      if (parsed && typeof parsed === "object") {
        args.textContent = JSON.stringify(parsed, null, 2);
        // The one-line summary on the card: the first argument's value, as a person reads it.
        const first = Object.values(parsed)[0];
        brief.textContent = first === undefined ? ""
          : shorten(typeof first === "string" ? first : JSON.stringify(first), 60);
      } else {
        args.textContent = argsText;
      }
    },
    /** Show the result: passages as a list, other JSON pretty-printed, text as is. */
    setResult(content) {
      let parsed = null;
      try {
        parsed = JSON.parse(content);
      } catch {
        // Not JSON: shown as text below.
      }
      const passages = asPassages(parsed);
      const empty = Array.isArray(parsed) && parsed.length === 0;
      result.replaceChildren(
        passages ? passageList(passages)
          : empty ? h("p.muted", { text: "Nothing found." })
            : h("pre", { text: prettyJson(content) }),
      );
      if (!rejected) setBadge("done", "done");
    },
  };
}

/**
 * Render an approval request with Approve and Reject buttons.
 * @param {{id: string, message?: string, reason: string}} interrupt
 * @param {(approved: boolean) => void} onDecide - called once per click.
 * @returns {{el: HTMLElement, decided: (approved: boolean) => void, reopen: (note: string) => void}}
 */
export function approvalCard(interrupt, toolName, onDecide) {
  const approve = h("button.approve", { type: "button", text: "Approve" });
  const reject = h("button.reject.ghost", { type: "button", text: "Reject" });
  const outcome = h("span.outcome");
  const actions = h("div.actions", {}, approve, reject, outcome);
  const el = h(
    "div.approval",
    { "data-interrupt-id": interrupt.id, role: "group", "aria-label": "Approval needed" },
    h("p.title", {}, h("strong", { text: "Approval needed" }),
      toolName ? h("code", { text: toolName }) : null),
    h("p.message", { text: interrupt.message || `The agent is waiting for ${interrupt.reason}.` }),
    actions,
  );
  approve.addEventListener("click", () => onDecide(true));
  reject.addEventListener("click", () => onDecide(false));
  return {
    el,
    decided(approved) {
      // The answer replaces the buttons: it has been given and cannot be taken back.
      approve.hidden = reject.hidden = true;
      outcome.textContent = approved ? "Approved" : "Rejected";
      outcome.className = `outcome ${approved ? "yes" : "no"}`;
    },
    reopen(note) {
      approve.hidden = reject.hidden = false;
      outcome.textContent = note;
      outcome.className = "outcome no";
    },
  };
}
