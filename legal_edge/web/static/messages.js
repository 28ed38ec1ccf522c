// The conversation shown: its questions and answers, each answer's actions (copy, sources,
// feedback), and the sources panel. Model output reaches the page only through renderMarkdown
// (escaped first); sources are built with textContent.

import { api, errorText } from "./api.js";
import { LEFTOVER, citeLinker, markMentions, verdict } from "./citations.js";
import { $, el } from "./dom.js";
import { serverWord, t } from "./i18n.js";
import { escapeHtml, renderMarkdown } from "./markdown.js";
import { current, save, state } from "./store.js";

export function renderMessages() {
  const box = $("messages");
  const c = current();
  box.replaceChildren(...(c ? c.messages.map(messageNode) : []));
  if (c && state.sourcesFor === null) {
    for (let i = c.messages.length - 1; i >= 0; i--) if (c.messages[i].role === "assistant") { state.sourcesFor = i; break; }
  }
  showSources(state.sourcesFor, false);
  box.scrollTop = box.scrollHeight;
}

export function showSources(index, focus) {
  const c = current();
  const m = c && index !== null ? c.messages[index] : null;
  const list = $("sources-list");
  const cites = (m && m.citations) || [];
  state.sourcesFor = m ? index : null;
  list.replaceChildren(...cites.map((s, i) => sourceNode(s, i)));
  $("sources-empty").hidden = cites.length > 0;
  $("sources").classList.toggle("has-sources", cites.length > 0);
  if (focus) (cites.length ? list.firstChild : $("sources-heading")).focus();
}

// What the answer's mentions of a source amount to, worst first: not found, misattributed,
// corrected, supported, named only; null when the answer does not cite it.
function standing(s) {
  if (s.cited_as === null || s.cited_as === undefined) return null;
  const v = (s.mentions && s.mentions.length ? s.mentions : [s]).map(verdict);
  return ["unverified", "misattributed", "corrected", "supported", "named"].find((x) => v.includes(x));
}

function verdictNode(s) {
  const v = standing(s);
  if (v === "unverified") return el("p", { className: "badge", text: t("unverifiedMark") + (s.reason ? ": " + s.reason : "") });
  if (v === "misattributed") return el("p", { className: "badge", text: t("misattributed", s.restates) });
  if (v === "corrected") return el("p", { className: "corrected", text: t("corrected", s.corrected_from) });
  if (v === "supported") return el("p", { className: "ok", text: t("supported") });
  if (v === "named") return el("p", { className: "named", text: t("namedOnly") });
  return null;
}

function sourceNode(s, i) {
  const bad = s.exists === false || s.verified === false || s.supported === false;
  const title = "《" + (s.law || "") + "》" + (s.label || s.article || "");
  const meta = [];
  if (s.version_date) meta.push(t("versionDate") + ": " + s.version_date);
  if (s.status) meta.push(t("status") + ": " + serverWord(s.status));
  if (s.given) meta.push(t("given", s.given));
  else if (s.cited_as) meta.push(t("citedOnly"));
  if (s.given && !s.cited_as && "cited_as" in s) meta.push(t("notCited"));
  const li = el("li", { id: "src-" + i, tabindex: "-1", className: "source" + (bad ? " unverified" : "") },
    el("h3", { text: title }),
    verdictNode(s),
    meta.length ? el("p", { className: "meta", text: meta.join(" · ") }) : null,
    s.text ? el("blockquote", { text: s.text }) : null,
    s.origin ? el("p", { className: "origin", text: t("origin") + ": " + s.origin }) : null);
  return li;
}

function messageNode(m, index) {
  const isUser = m.role === "user";
  const body = el("div", { className: "body" });
  const node = el("article", { className: "msg " + m.role, "data-index": String(index) },
    el("h3", { className: "who", text: isUser ? t("you") : t("assistant") }), body);
  if (isUser) {
    body.textContent = m.content; // a question is shown as typed
    return node;
  }
  fillAnswer(node, m, index);
  return node;
}

export function fillAnswer(node, m, index) {
  const body = node.querySelector(".body");
  const marked = markMentions(m.content, m.citations);
  body.innerHTML = renderMarkdown(marked, citeLinker(m.citations, index, escapeHtml, (from) => t("correctedLink", from))).replace(LEFTOVER, "");
  if (m.stopped) body.append(el("p", { className: "stopped", text: t("stopped") }));
  if (m.error) body.append(el("p", { className: "error", text: m.error }));
  const old = node.querySelector(".actions");
  if (old) old.remove();
  if (m.pending) return;
  const actions = el("div", { className: "actions" });
  if (m.content) {
    const status = el("span", { className: "copy-status", role: "status" });
    actions.append(el("button", { type: "button", className: "copy", text: t("copy"), onclick: () => copy(m.content, status) }), status);
  }
  if (m.citations && m.citations.length) {
    actions.append(el("button", { type: "button", className: "show-sources", text: t("showSources", m.citations.length), onclick: () => showSources(index, true) }));
  }
  if (m.id && m.content && state.serverInfo.feedback_enabled) actions.append(feedbackNode(m));
  node.append(actions);
}

function feedbackNode(m) {
  const fb = m.feedback || {};
  const status = el("span", { className: "feedback-status", role: "status", text: fb.sent ? t("feedbackSent") : "" });
  const wrap = el("div", { className: "feedback" });
  const thumb = (rating, glyph) =>
    el("button", { type: "button", className: "rate-" + rating + " icon-only", "aria-label": t(rating), title: t(rating), "aria-pressed": fb.rating === rating ? "true" : "false", text: glyph, onclick: () => sendFeedback(m, { rating }, status) });
  wrap.append(thumb("up", "👍"), thumb("down", "👎"));
  if (state.serverInfo.keeps_conversation_text) {
    // corrections are text: sent only where the server keeps the conversation they refer to
    const area = el("textarea", { rows: "3", className: "correction-text" });
    const id = "corr-" + m.id;
    area.id = id;
    const form = el("div", { className: "correction", hidden: true },
      el("label", { for: id, text: t("correction") }), area,
      el("button", { type: "button", className: "send-correction", text: t("sendCorrection"), onclick: () => {
        if (area.value.trim()) sendFeedback(m, { rating: "down", correction: area.value.trim() }, status);
      } }));
    const toggle = el("button", { type: "button", className: "correct", "aria-expanded": "false", text: t("correct"), onclick: () => {
      form.hidden = !form.hidden;
      toggle.setAttribute("aria-expanded", String(!form.hidden));
      if (!form.hidden) area.focus();
    } });
    wrap.append(toggle, form);
  }
  wrap.append(status);
  return wrap;
}

async function sendFeedback(m, body, status) {
  status.textContent = "";
  try {
    const res = await api("/v1/feedback", { method: "POST", body: JSON.stringify(Object.assign({ response_id: m.id }, body)) });
    if (!res.ok) { status.textContent = t("feedbackFailed", await errorText(res)); return; }
    m.feedback = { rating: body.rating, sent: true };
    save();
    for (const b of status.parentNode.querySelectorAll("[aria-pressed]")) b.setAttribute("aria-pressed", String(b.classList.contains("rate-" + body.rating)));
    const form = status.parentNode.querySelector(".correction");
    if (form && body.correction) form.hidden = true;
    status.textContent = t("feedbackSent");
  } catch (e) {
    status.textContent = t("feedbackFailed", e.message);
  }
}

async function copy(text, status) {
  try {
    if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
    else {
      // plain http on an office address is not a secure context: the older way still works
      const area = el("textarea", { className: "offscreen", readonly: true });
      area.value = text;
      document.body.append(area);
      area.select();
      const ok = document.execCommand("copy");
      area.remove();
      if (!ok) throw new Error("execCommand");
    }
    status.textContent = t("copied");
  } catch (e) {
    status.textContent = t("copyFailed");
  }
}
