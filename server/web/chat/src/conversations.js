// The list of past conversations beside the chat: one link per thread of the workflow,
// named by its first user message and dated by its last activity.
//
// Each entry is a real link (`/chat?workflow=…&thread=…`), so it can be opened in a new tab;
// a plain click opens the conversation in place instead.
import { h, shorten } from "./render.js";
import { firstUserText, getState, searchThreads } from "./threads.js";

const TITLE_CHARS = 60;

const sameDay = (a, b) => a.toDateString() === b.toDateString();
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dayAndTime = new Intl.DateTimeFormat(undefined, {
  day: "numeric", month: "short", hour: "numeric", minute: "2-digit",
});
const dayAndYear = new Intl.DateTimeFormat(undefined, {
  day: "numeric", month: "short", year: "numeric",
});
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

/** Say when, as briefly as is still clear: "14:05" today, "6 Dec, 14:05" this year. */
export function when(iso, now = new Date()) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  if (sameDay(date, now)) return timeOnly.format(date);
  if (date.getFullYear() === now.getFullYear()) return dayAndTime.format(date);
  return dayAndYear.format(date);
}

/** Return the page's own link to a conversation. */
export function conversationHref(workflow, threadId) {
  return `/chat?${new URLSearchParams({ workflow, thread: threadId })}`;
}

/**
 * Build the list's controller.
 * @param {{nav: HTMLElement, list: HTMLElement, note: HTMLElement}} el - its elements.
 * @param {(threadId: string) => void} onOpen - called on a plain click of an entry.
 */
export function conversationList(el, onOpen) {
  /** The latest refresh; an older one that answers late is dropped. */
  let generation = 0;
  let current = null;
  /** First user messages read from thread states, so a refresh does not read them again. */
  const named = new Map();

  const say = (text) => {
    el.note.textContent = text;
    el.note.hidden = !text;
  };

  const mark = () => {
    for (const link of el.list.querySelectorAll("a[data-thread-id]")) {
      if (link.dataset.threadId === current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  };

  el.list.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-thread-id]");
    // Modified and middle clicks keep their browser meaning (a new tab or window).
    const modified = event.metaKey || event.ctrlKey || event.shiftKey || event.altKey;
    if (!link || event.button !== 0 || modified) return;
    event.preventDefault();
    if (el.nav.dataset.locked !== "true") onOpen(link.dataset.threadId);
  });

  function entry(workflow, thread) {
    const text = firstUserText(thread.values?.messages) || named.get(thread.thread_id) || "";
    const title = h("span.title", { text: text ? shorten(text, TITLE_CHARS) : "…" });
    if (text) title.title = text;
    const stamp = thread.updated_at || thread.created_at;
    const link = h(
      "a.conversation",
      { href: conversationHref(workflow, thread.thread_id), "data-thread-id": thread.thread_id },
      title,
      stamp
        ? h("time", { datetime: stamp, title: full.format(new Date(stamp)), text: when(stamp) })
        : null,
    );
    return { li: h("li", {}, link), title, named: Boolean(text) };
  }

  /** Name an entry whose search result carried no messages, from the thread's state. */
  async function nameLater(threadId, title, mine) {
    let text = "";
    try {
      text = firstUserText((await getState(threadId))?.values?.messages);
    } catch {
      // Unnamed it stays; opening it says what is wrong.
    }
    if (text) named.set(threadId, text);
    if (mine !== generation) return;
    title.textContent = text ? shorten(text, TITLE_CHARS) : "(no messages yet)";
    if (text) title.title = text;
  }

  return {
    /** Show `workflow`'s conversations, or a short note saying why there are none. */
    async refresh(workflow) {
      const mine = ++generation;
      el.nav.setAttribute("aria-busy", "true");
      if (!el.list.children.length) say("Loading…");
      let threads;
      try {
        threads = await searchThreads(workflow);
      } catch (error) {
        if (mine !== generation) return;
        el.nav.removeAttribute("aria-busy");
        el.list.replaceChildren();
        if (error?.status === 401 || error?.status === 403) {
          say("Past conversations need credentials, which this page does not send.");
        } else if (error?.status) {
          say(`Past conversations could not be loaded (HTTP ${error.status}).`);
        } else {
          say("Past conversations could not be loaded: the server did not answer.");
        }
        return;
      }
      if (mine !== generation) return;
      el.nav.removeAttribute("aria-busy");
      const found = Array.isArray(threads) ? threads : [];
      const entries = found.map((t) => [t.thread_id, entry(workflow, t)]);
      el.list.replaceChildren(...entries.map(([, e]) => e.li));
      say(entries.length ? "" : `No conversations with “${workflow}” yet.`);
      mark();
      for (const [id, e] of entries) if (!e.named) nameLater(id, e.title, mine);
    },
    /** Mark the conversation on screen (null: a new one, not in the list yet). */
    setCurrent(threadId) {
      current = threadId;
      mark();
    },
    /** Refuse clicks while a run streams: switching would cut it off. */
    setLocked(locked) {
      el.nav.dataset.locked = String(locked);
    },
  };
}
