// The legal-edge chat page: no libraries, no build step; ES modules served from this server.
// It talks to the server's public API only. Model output is escaped before the small Markdown
// subset turns it into markup (markdown.js), and sources are built with textContent, so nothing
// the model writes becomes live HTML or script.
//
//   main.js      this file: start-up, the language, the model list, the controls' wiring
//   chat.js      asking and the streamed answer; Markdown export
//   messages.js  the conversation shown, an answer's actions, the sources panel
//   sidebar.js   the conversation list
//   store.js     what the page remembers (localStorage) and the shared state
//   api.js       requests with the API key; errors in the reader's words
//   sse.js       the event-stream parser;  markdown.js  the Markdown subset
//   citations.js statute mentions linked to their sources;  i18n.js  the words;  dom.js  helpers

import { api, askForKey, errorText, KEY } from "./api.js";
import { ask, exportCurrent, toMarkdown } from "./chat.js";
import { $, el, showError } from "./dom.js";
import { switchLang, t, translatePage } from "./i18n.js";
import { escapeHtml, renderMarkdown } from "./markdown.js";
import { renderMessages, showSources } from "./messages.js";
import { closeNavOnPhone, renderList } from "./sidebar.js";
import { createSSEParser } from "./sse.js";
import { current, newConversation, save, state } from "./store.js";

const MODEL = "legal-edge.model";

function applyLanguage() {
  translatePage();
  renderPrivacy();
  renderGrounding();
  renderList();
  renderMessages();
}

function renderPrivacy() {
  const p = $("privacy");
  const info = state.serverInfo;
  if (!info.loaded) { p.hidden = true; return; }
  p.textContent = !info.feedback_enabled ? t("feedbackOff")
    : info.keeps_conversation_text ? t("privacyKeeps") : t("privacyNoText");
  p.dataset.keeps = String(!!info.keeps_conversation_text);
  p.hidden = false;
}

// A model that answers without the statute books (none configured, or its index missing or
// unreadable) is named as such above the conversation: a lawyer must not take its answer for a
// grounded one. /v1/models says which (grounded, grounding_off_reason).
function renderGrounding() {
  const p = $("ungrounded");
  const card = (state.models || {})[$("model").value];
  if (!card || card.grounded !== false) { p.hidden = true; return; }
  p.textContent = t("ungrounded", card.grounding_off_reason || "?");
  p.hidden = false;
}

async function loadModels(afterKey) {
  let res;
  try {
    res = await api("/v1/models");
  } catch (e) {
    showError(t("network", e.message));
    return;
  }
  if (res.status === 401) {
    sessionStorage.removeItem(KEY);
    showError(t("unauthorized"));
    askForKey(afterKey ? t("keyWrong") : "");
    return;
  }
  if (!res.ok) { showError(await errorText(res)); return; }
  showError("");
  const cards = (await res.json()).data || [];
  const models = cards.map((m) => m.id);
  state.models = Object.fromEntries(cards.map((m) => [m.id, m]));
  const select = $("model");
  const wanted = localStorage.getItem(MODEL) || select.value;
  select.replaceChildren(...models.map((id) => el("option", { value: id, text: id })));
  if (wanted && models.includes(wanted)) select.value = wanted;
  if (!models.length) showError(t("noModels"));
  renderGrounding();
  // the statute index opens while the model loads: ask again until it has
  if (cards.some((m) => m.grounded === false && /loading/.test(m.grounding_off_reason || ""))) {
    setTimeout(() => loadModels(false), 2000);
  }
}

async function loadServerInfo() {
  try {
    const res = await fetch("/v1/server-info");
    if (res.ok) state.serverInfo = Object.assign(await res.json(), { loaded: true });
  } catch (e) { /* the page still works without it */ }
  renderPrivacy();
  renderMessages();
}

function wire() {
  $("composer").addEventListener("submit", (e) => { e.preventDefault(); ask(); });
  $("prompt").addEventListener("keydown", (e) => {
    // an input method (Chinese pinyin, …) confirms its candidate with Enter: that is not "send"
    if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    ask();
  });
  $("stop").addEventListener("click", () => { if (state.controller) state.controller.abort(); $("prompt").focus(); });
  $("new-chat").addEventListener("click", () => {
    if (state.controller) state.controller.abort();
    const c = current();
    if (!c || c.messages.length) newConversation();
    state.sourcesFor = null;
    save();
    renderList();
    renderMessages();
    closeNavOnPhone();
    $("prompt").focus();
  });
  $("export").addEventListener("click", exportCurrent);
  $("lang").addEventListener("click", () => { switchLang(); applyLanguage(); });
  $("model").addEventListener("change", () => {
    localStorage.setItem(MODEL, $("model").value);
    renderGrounding();
  });
  $("set-key").addEventListener("click", () => askForKey(""));
  $("key-cancel").addEventListener("click", () => $("key-dialog").close());
  $("key-form").addEventListener("submit", (e) => {
    const key = $("key-input").value.trim();
    if (!key) { e.preventDefault(); return; }
    sessionStorage.setItem(KEY, key);
    loadModels(true);
  });
  $("toggle-nav").addEventListener("click", () => {
    const open = document.body.classList.toggle("nav-open");
    $("toggle-nav").setAttribute("aria-expanded", String(open));
    if (open) $("new-chat").focus();
  });
  $("messages").addEventListener("click", (e) => {
    const a = e.target.closest("a.cite");
    if (!a) return;
    e.preventDefault();
    showSources(parseInt(a.dataset.msg, 10), false);
    const target = $("src-" + a.dataset.src);
    if (target) { target.classList.add("flash"); target.focus(); setTimeout(() => target.classList.remove("flash"), 1500); }
  });
}

// for the browser tests, which check the parsers without a server round trip
window.LegalEdgeChat = { createSSEParser, renderMarkdown, escapeHtml, toMarkdown };

// a module script runs once the document is parsed (modules are deferred)
wire();
applyLanguage();
loadServerInfo().then(() => loadModels(false));
document.body.dataset.ready = "true";
