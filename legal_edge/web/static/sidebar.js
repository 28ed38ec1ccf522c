// The conversation list: open, rename, delete; on a phone it folds away.

import { $, el, showError } from "./dom.js";
import { t } from "./i18n.js";
import { renderMessages } from "./messages.js";
import { save, state } from "./store.js";

export function renderList() {
  const ul = $("conv-list");
  ul.replaceChildren();
  for (const c of state.conversations) {
    const title = c.title || t("untitled");
    const here = c.id === state.currentId;
    const li = el("li", { className: "conv" + (here ? " current" : "") });
    li.append(
      el("button", { type: "button", className: "conv-open", "aria-current": here ? "true" : null, text: title, onclick: () => switchTo(c.id) }),
      el("button", { type: "button", className: "conv-rename icon-only", "aria-label": t("rename") + ": " + title, title: t("rename"), text: "✎", onclick: () => startRename(li, c) }),
      el("button", { type: "button", className: "conv-delete icon-only", "aria-label": t("delete") + ": " + title, title: t("delete"), text: "🗑", onclick: () => remove(c) }),
    );
    ul.append(li);
  }
}

function startRename(li, c) {
  const input = el("input", { type: "text", className: "conv-title", "aria-label": t("renameLabel"), value: c.title || t("untitled") });
  let done = false;
  const finish = (keep) => {
    if (done) return;
    done = true;
    if (keep && input.value.trim()) { c.title = input.value.trim().slice(0, 120); save(); }
    renderList();
    const again = [...$("conv-list").children].find((n, i) => state.conversations[i] === c);
    if (again) again.querySelector(".conv-rename").focus();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); finish(true); }
    else if (e.key === "Escape") { e.preventDefault(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
  li.replaceChildren(input);
  input.focus();
  input.select();
}

function remove(c) {
  if (!window.confirm(t("confirmDelete", c.title || t("untitled")))) return;
  if (state.controller && c.id === state.currentId) state.controller.abort();
  state.conversations = state.conversations.filter((x) => x !== c);
  if (state.currentId === c.id) state.currentId = state.conversations.length ? state.conversations[0].id : null;
  save();
  state.sourcesFor = null;
  renderList();
  renderMessages();
  $("new-chat").focus();
}

function switchTo(id) {
  if (state.controller) state.controller.abort();
  state.currentId = id;
  state.sourcesFor = null;
  save();
  renderList();
  renderMessages();
  showError("");
  closeNavOnPhone();
  $("prompt").focus();
}

export function closeNavOnPhone() {
  if (window.matchMedia("(max-width: 700px)").matches) {
    document.body.classList.remove("nav-open");
    $("toggle-nav").setAttribute("aria-expanded", "false");
  }
}
