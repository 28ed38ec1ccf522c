// Asking: the question goes to /v1/chat/completions (streamed), the answer grows on the page as
// it arrives and is saved as it goes; Markdown export of a conversation.

import { api, askForKey, describeError, errorText } from "./api.js";
import { $, el, showError } from "./dom.js";
import { t } from "./i18n.js";
import { fillAnswer, renderMessages, showSources } from "./messages.js";
import { renderList } from "./sidebar.js";
import { createSSEParser } from "./sse.js";
import { current, newConversation, save, state } from "./store.js";

// The turns sent with a question: a question whose answer failed or came back empty is left
// out with it, so the model always sees user and assistant turns in turn.
function history(c) {
  const out = [];
  c.messages.forEach((m, i) => {
    const next = c.messages[i + 1];
    const answered = next && next.role === "assistant" && !next.error && next.content;
    if (m.role === "user" && (answered || !next)) out.push({ role: "user", content: m.content });
    else if (m.role === "assistant" && !m.pending && !m.error && m.content) out.push({ role: "assistant", content: m.content });
  });
  return out;
}

// Keep the newest text in view while it grows, unless the reader has scrolled up to read.
function followBottom(change) {
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 48;
  change();
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
  $("chat").setAttribute("aria-busy", String(busy));
}

// Read the response's event stream into `answer`, calling update() after each chunk.
async function readStream(res, answer, update) {
  answer.id = res.headers.get("X-Request-Id") || null;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = createSSEParser((data) => {
    if (data === "[DONE]") return;
    let chunk;
    try { chunk = JSON.parse(data); } catch (e) { return; }
    if (chunk.error) { answer.error = describeError(500, chunk.error); showError(answer.error); }
    if (chunk.id) answer.id = chunk.id;
    const choice = chunk.choices && chunk.choices[0];
    if (choice && choice.delta && typeof choice.delta.content === "string") answer.content += choice.delta.content;
    if (Array.isArray(chunk.citations)) answer.citations = chunk.citations;
    update();
  });
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.push(decoder.decode(value, { stream: true }));
  }
  parser.push(decoder.decode());
  parser.end();
}

// Redraw the answer at most once a frame while it streams; save it once a second, so it
// survives a closed tab. `shown` finds its node (gone when the reader switched conversation).
function frameUpdater(shown, answer, index) {
  let scheduled = false;
  let savedAt = Date.now();
  return () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      const node = shown();
      if (node) followBottom(() => fillAnswer(node, answer, index));
      if (Date.now() - savedAt > 1000) { save(); savedAt = Date.now(); }
    });
  };
}

export async function ask() {
  const prompt = $("prompt");
  const text = prompt.value;
  if (!text.trim() || state.controller) return;
  const model = $("model").value;
  if (!model) { showError(t("noModels")); return; }
  showError("");
  const c = current() || newConversation();
  if (!c.title) c.title = text.trim().replace(/\s+/g, " ").slice(0, 40);
  c.model = model;
  c.updated = Date.now();
  c.messages.push({ role: "user", content: text });
  const messages = history(c);
  const answer = { role: "assistant", content: "", pending: true, model };
  c.messages.push(answer);
  const index = c.messages.length - 1;
  state.sourcesFor = index;
  state.conversations = [c, ...state.conversations.filter((x) => x !== c)];
  save();
  renderList();
  renderMessages();
  prompt.value = "";
  // looked up each time: switching the language re-renders the list while the answer streams
  const shown = () => (state.currentId === c.id ? $("messages").querySelector(`article[data-index="${index}"]`) : null);
  state.controller = new AbortController();
  setBusy(true);
  try {
    const res = await api("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model, messages, stream: true }), signal: state.controller.signal });
    if (!res.ok) {
      answer.error = await errorText(res);
      if (res.status === 401) askForKey(t("unauthorized"));
      showError(answer.error);
    } else {
      await readStream(res, answer, frameUpdater(shown, answer, index));
    }
  } catch (e) {
    if (e.name === "AbortError") answer.stopped = true;
    else { answer.error = t("network", e.message); showError(answer.error); }
  } finally {
    state.controller = null;
    delete answer.pending;
    if (!answer.content && !answer.stopped && !answer.error) answer.error = t("failed", "-", "");
    save();
    setBusy(false);
    const node = shown();
    if (node) followBottom(() => { fillAnswer(node, answer, index); showSources(index, false); });
    if (document.activeElement === document.body || document.activeElement === $("stop")) prompt.focus();
  }
}

export function toMarkdown(c) {
  const parts = ["# " + (c.title || t("untitled")), ""];
  for (const m of c.messages) {
    if (m.role === "user") parts.push("**" + t("you_md") + ":**", "", m.content, "");
    else {
      parts.push("**" + t("assistant_md") + (m.model ? " (" + m.model + ")" : "") + ":**", "", m.content + (m.stopped ? " " + t("stopped") : ""), "");
      for (const s of m.citations || []) {
        parts.push("> 《" + s.law + "》" + (s.label || s.article) + (s.version_date ? " (" + s.version_date + ")" : "") + (s.verified === false ? " — " + t("unverified") : "") + (s.text ? ": " + s.text : ""));
      }
      if (m.citations && m.citations.length) parts.push("");
    }
  }
  return parts.join("\n");
}

export function exportCurrent() {
  const c = current();
  if (!c || !c.messages.length) return;
  const blob = new Blob([toMarkdown(c)], { type: "text/markdown;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: (c.title || "conversation").replace(/[\\/:*?"<>|\s]+/g, "_").slice(0, 60) + ".md" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
