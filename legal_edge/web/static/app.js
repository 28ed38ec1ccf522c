// The legal-edge chat page. Plain script, no libraries: it talks to the server's public API only.
// Model output is always escaped before the small Markdown subset turns it into markup, and
// sources are built with textContent, so nothing the model writes becomes live HTML or script.
(function () {
  "use strict";

  const STORE = "legal-edge.conversations.v1";
  const CURRENT = "legal-edge.current";
  const LANG = "legal-edge.lang";
  const MODEL = "legal-edge.model";
  const KEY = "legal-edge.api-key"; // sessionStorage: gone when the tab closes

  const TEXT = {
    zh: {
      skip: "跳到输入框", model: "模型", switchLang: "English", apiKey: "API 密钥",
      conversations: "对话", newChat: "新对话", messages: "消息", prompt: "您的问题",
      placeholder: "输入法律问题……", sendHint: "Enter 发送，Shift+Enter 换行",
      export: "导出 Markdown", stop: "停止", send: "发送", sources: "法条来源",
      noSources: "此回答未附法条来源。", keyTitle: "此服务器需要 API 密钥",
      keyHint: "密钥只保存在本标签页的会话中，关闭后清除。", cancel: "取消", save: "保存",
      you: "您", assistant: "助手", copy: "复制回答", copied: "已复制", copyFailed: "复制失败",
      rename: "重命名", renameLabel: "对话名称", delete: "删除", open: "打开对话",
      confirmDelete: "删除对话“{0}”？此操作无法撤销。", untitled: "新对话",
      up: "有帮助", down: "没有帮助", correct: "提交更正", correction: "更正：正确的回答应是",
      sendCorrection: "发送更正", feedbackSent: "反馈已发送，谢谢。",
      feedbackFailed: "反馈未能发送：{0}", stopped: "（已停止）", unverified: "未核实",
      unverifiedMark: "⚠ 未核实", showSources: "查看法条来源（{0}）", versionDate: "版本日期",
      status: "状态", origin: "出处", in_force: "现行有效", superseded: "已被修订",
      repealed: "已废止", not_found: "法条库中没有", verified: "✓ 已核实", given: "检索到的第 {0} 条",
      citedOnly: "回答引用，未经检索", notCited: "回答未引用", privacyNoText: "本服务器不保存对话内容：反馈只发送赞或踩，不发送任何文字。对话只保存在本浏览器中。",
      privacyKeeps: "本服务器在管理员设定的期限内保存问题和回答的文字，用于反馈和改进模型。对话列表只保存在本浏览器中。",
      feedbackOff: "本服务器不保存对话内容，也未开启反馈。对话只保存在本浏览器中。",
      unauthorized: "API 密钥无效或缺失，请重新输入。", keyWrong: "密钥不正确，请重新输入。",
      queueFull: "服务器正忙（排队已满），请{0}后再试。", seconds: "{0} 秒",
      later: "稍后", contextTooLong: "对话太长，超出了模型能读取的长度。请新建对话，或缩短问题后再试。",
      network: "无法连接服务器：{0}", failed: "请求失败（{0}）：{1}", noModels: "没有可用的模型。",
      modelLoading: "模型仍在加载，请稍后再试。", timeout: "回答超时，请缩短问题后重试。",
      you_md: "您", assistant_md: "助手", exported: "对话",
    },
    en: {
      skip: "Skip to the question", model: "Model", switchLang: "中文", apiKey: "API key",
      conversations: "Conversations", newChat: "New chat", messages: "Messages",
      prompt: "Your question", placeholder: "Ask a legal question…",
      sendHint: "Enter sends, Shift+Enter adds a line", export: "Export Markdown", stop: "Stop",
      send: "Send", sources: "Sources", noSources: "This answer cites no sources.",
      keyTitle: "This server needs an API key",
      keyHint: "The key is kept for this browser tab's session only.", cancel: "Cancel",
      save: "Save", you: "You", assistant: "Assistant", copy: "Copy answer", copied: "Copied",
      copyFailed: "Copy failed", rename: "Rename", renameLabel: "Conversation name",
      delete: "Delete", open: "Open conversation",
      confirmDelete: "Delete the conversation “{0}”? This cannot be undone.",
      untitled: "New chat", up: "Helpful", down: "Not helpful", correct: "Suggest a correction",
      correction: "Correction: the answer should have been", sendCorrection: "Send correction",
      feedbackSent: "Feedback sent, thank you.", feedbackFailed: "Feedback not sent: {0}",
      stopped: "(stopped)", unverified: "unverified", unverifiedMark: "⚠ unverified",
      showSources: "Show sources ({0})", versionDate: "Version date", status: "Status",
      origin: "Origin", in_force: "in force", superseded: "superseded", repealed: "repealed",
      not_found: "not in the statute index", verified: "✓ verified", given: "retrieved article {0}",
      citedOnly: "cited by the answer, not retrieved", notCited: "not cited by the answer",
      privacyNoText: "This server keeps no conversation text: feedback sends only your thumbs up or down, no text. Conversations are stored only in this browser.",
      privacyKeeps: "This server keeps questions and answers for the period its administrator set, for feedback and improving the model. The conversation list is stored only in this browser.",
      feedbackOff: "This server keeps no conversation text and has feedback turned off. Conversations are stored only in this browser.",
      unauthorized: "The API key is missing or wrong; please enter it again.",
      keyWrong: "That key was not accepted; please enter it again.",
      queueFull: "The server is busy (its queue is full); please try again in {0}.",
      seconds: "{0} seconds", later: "a moment",
      contextTooLong: "This conversation is too long for the model. Start a new chat or shorten the question.",
      network: "Cannot reach the server: {0}", failed: "Request failed ({0}): {1}",
      noModels: "No model is available.", modelLoading: "The model is still loading; try again shortly.",
      timeout: "The answer took too long; try a shorter question.",
      you_md: "You", assistant_md: "Assistant", exported: "Conversation",
    },
  };

  // -- small helpers ------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem(LANG) || (/^zh/i.test(navigator.language || "") ? "zh" : "en");

  function t(key, ...args) {
    const s = (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
    return s.replace(/\{(\d)\}/g, (_, i) => String(args[+i]));
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "className") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c) node.append(c);
    return node;
  }

  // -- Server-Sent Events: one event per blank line, "data:" lines joined, CR, LF or CRLF ------

  function createSSEParser(onData) {
    let buffer = "";
    let data = [];
    function line(text) {
      if (text === "") {
        if (data.length) onData(data.join("\n"));
        data = [];
        return;
      }
      if (text.startsWith(":")) return; // a comment (keep-alive)
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
    }
    function drain(final) {
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buffer);
        if (!m) break;
        // a lone CR at the end may be the first half of a CRLF that has not arrived yet
        if (m[0] === "\r" && m.index === buffer.length - 1 && !final) break;
        line(buffer.slice(0, m.index));
        buffer = buffer.slice(m.index + m[0].length);
      }
      if (final) {
        if (buffer) line(buffer);
        buffer = "";
        line(""); // the stream's end also ends the last event
      }
    }
    return {
      push(text) { buffer += text; drain(false); },
      end() { drain(true); },
    };
  }

  // -- Markdown subset: escaped first, then paragraphs, lists, headings, bold, code ----------

  function escapeHtml(s) {
    return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  function inline(escaped, cite) {
    return escaped
      .split(/(`[^`]+`)/)
      .map((part, i) => {
        if (i % 2) return "<code>" + part.slice(1, -1) + "</code>";
        part = part.replace(/\*\*(?=\S)([^*]+?)\*\*/g, "<strong>$1</strong>");
        return cite ? cite(part) : part;
      })
      .join("");
  }

  function renderMarkdown(source, cite) {
    const lines = String(source).replace(/\r\n?/g, "\n").split("\n");
    const out = [];
    let para = [];
    let list = null;
    const fmt = (s) => inline(escapeHtml(s), cite);
    const flushPara = () => {
      if (para.length) out.push("<p>" + para.map(fmt).join("<br>") + "</p>");
      para = [];
    };
    const flushList = () => {
      if (!list) return;
      const start = list.type === "ol" && list.start !== 1 ? ` start="${list.start}"` : "";
      out.push(`<${list.type}${start}>` + list.items.map((it) => "<li>" + fmt(it) + "</li>").join("") + `</${list.type}>`);
      list = null;
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (/^\s*```/.test(line)) {
        flushPara(); flushList();
        const code = [];
        while (++i < lines.length && !/^\s*```/.test(lines[i])) code.push(lines[i]);
        out.push("<pre><code>" + escapeHtml(code.join("\n")) + "</code></pre>");
        continue;
      }
      if (!line.trim()) { flushPara(); flushList(); continue; }
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      const bullet = /^\s*[-*+•]\s+(.*)$/.exec(line);
      const numbered = /^\s*(\d{1,4})(?:[.)]\s+|、\s*)(.*)$/.exec(line);
      if (heading) {
        flushPara(); flushList();
        out.push('<p class="md-heading"><strong>' + fmt(heading[2]) + "</strong></p>");
      } else if (bullet || numbered) {
        flushPara();
        const type = bullet ? "ul" : "ol";
        if (!list || list.type !== type) {
          flushList();
          list = { type, items: [], start: numbered ? parseInt(numbered[1], 10) : 1 };
        }
        list.items.push(bullet ? bullet[1] : numbered[2]);
      } else if (list && /^\s+\S/.test(line)) {
        list.items[list.items.length - 1] += " " + line.trim();
      } else {
        flushList();
        para.push(line);
      }
    }
    flushPara(); flushList();
    return out.join("");
  }

  // -- citations: 《…》第…条 in an answer, matched to the response's `citations` -------------

  const DIGITS = { 零: 0, 〇: 0, 一: 1, 二: 2, 两: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };
  const UNITS = { 十: 10, 百: 100, 千: 1000 };

  function chineseNumber(s) {
    if (/^\d+$/.test(s)) return parseInt(s, 10);
    let total = 0;
    let digit = 0;
    for (const ch of s) {
      if (ch in DIGITS) digit = DIGITS[ch];
      else if (ch in UNITS) { total += (digit || 1) * UNITS[ch]; digit = 0; }
      else return NaN;
    }
    return total + digit;
  }

  function articleKey(article) {
    const s = String(article).replace(/\s/g, "").replace(/^第/, "").replace(/条/, "");
    const m = /^([^之-]+)(?:(?:之|-)(.+))?$/.exec(s);
    if (!m) return s;
    const base = chineseNumber(m[1]);
    const sub = m[2] ? chineseNumber(m[2]) : null;
    return isNaN(base) ? s : String(base) + (sub ? "-" + sub : "");
  }

  const lawKey = (law) => String(law).replace(/[《》\s]/g, "").replace(/^中华人民共和国/, "");

  function findCitation(citations, law, article, whole) {
    const lk = lawKey(law);
    const ak = articleKey(article);
    // the server says how the answer wrote each citation it checked (short names included)
    const exact = (citations || []).findIndex((c) => c.cited_as && c.cited_as.replace(/\s/g, "") === whole.replace(/\s/g, ""));
    if (exact >= 0) return exact;
    return (citations || []).findIndex((c) => {
      const ck = lawKey(c.law || "");
      return ck && (ck === lk || ck.endsWith(lk) || lk.endsWith(ck)) && articleKey(c.article || "") === ak;
    });
  }

  const MENTION = /《([^《》<>&]{1,60})》\s*(第[^条<>&\s]{1,20}条(?:之[一二三四五六七八九十]+)?)/g;

  function citeLinker(citations, msgIndex) {
    if (!citations || !citations.length) return null;
    return (escaped) =>
      escaped.replace(MENTION, (whole, law, article) => {
        const i = findCitation(citations, law, article, whole);
        if (i < 0) return whole;
        const bad = citations[i].verified === false;
        return `<a class="cite${bad ? " unverified" : ""}" href="#src-${i}" data-msg="${msgIndex}" data-src="${i}">${whole}${bad ? " ⚠" : ""}</a>`;
      });
  }

  // -- state --------------------------------------------------------------------------------

  let conversations = loadConversations();
  let currentId = localStorage.getItem(CURRENT);
  let serverInfo = { keeps_conversation_text: false, feedback_enabled: false, requires_api_key: false };
  let controller = null;
  let sourcesFor = null; // index of the answer whose sources are shown

  function loadConversations() {
    try {
      const list = JSON.parse(localStorage.getItem(STORE) || "[]");
      if (!Array.isArray(list)) return [];
      for (const c of list) {
        for (const m of c.messages || []) {
          // the tab closed while this answer streamed: keep what arrived, as a stopped answer
          if (m.pending) { delete m.pending; m.stopped = true; }
        }
      }
      return list;
    } catch (e) {
      return [];
    }
  }

  function save() {
    localStorage.setItem(STORE, JSON.stringify(conversations));
    if (currentId) localStorage.setItem(CURRENT, currentId);
    else localStorage.removeItem(CURRENT);
  }

  const current = () => conversations.find((c) => c.id === currentId) || null;

  function newConversation() {
    const c = { id: "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8), title: "", created: Date.now(), messages: [] };
    conversations.unshift(c);
    currentId = c.id;
    return c;
  }

  // -- API ----------------------------------------------------------------------------------

  async function api(path, options) {
    const headers = Object.assign({}, (options && options.headers) || {});
    const key = sessionStorage.getItem(KEY);
    if (key) headers.Authorization = "Bearer " + key;
    if (options && options.body) headers["Content-Type"] = "application/json";
    return fetch(path, Object.assign({}, options, { headers }));
  }

  async function errorText(res) {
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    const err = (body && body.error) || {};
    return describeError(res.status, err, res.headers.get("Retry-After"));
  }

  function describeError(status, err, retryAfter) {
    if (status === 401) return t("unauthorized");
    if (err.code === "context_length_exceeded") return t("contextTooLong");
    if (err.code === "model_not_ready") return t("modelLoading");
    if (err.code === "timeout" || status === 504) return t("timeout");
    if (err.code === "server_overloaded" || status === 503 || status === 429) {
      return t("queueFull", retryAfter ? t("seconds", retryAfter) : t("later"));
    }
    return t("failed", status, err.message || "");
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  // -- rendering ----------------------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
    renderPrivacy();
    renderList();
    renderMessages();
  }

  function renderPrivacy() {
    const p = $("privacy");
    if (!serverInfo.loaded) { p.hidden = true; return; }
    p.textContent = !serverInfo.feedback_enabled ? t("feedbackOff")
      : serverInfo.keeps_conversation_text ? t("privacyKeeps") : t("privacyNoText");
    p.dataset.keeps = String(!!serverInfo.keeps_conversation_text);
    p.hidden = false;
  }

  function renderList() {
    const ul = $("conv-list");
    ul.replaceChildren();
    for (const c of conversations) {
      const title = c.title || t("untitled");
      const li = el("li", { className: "conv" + (c.id === currentId ? " current" : "") });
      li.append(
        el("button", { type: "button", className: "conv-open", "aria-current": c.id === currentId ? "true" : null, text: title, onclick: () => switchTo(c.id) }),
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
      const again = [...$("conv-list").children].find((n, i) => conversations[i] === c);
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
    if (controller && c.id === currentId) controller.abort();
    conversations = conversations.filter((x) => x !== c);
    if (currentId === c.id) currentId = conversations.length ? conversations[0].id : null;
    save();
    sourcesFor = null;
    renderList();
    renderMessages();
    $("new-chat").focus();
  }

  function switchTo(id) {
    if (controller) controller.abort();
    currentId = id;
    sourcesFor = null;
    save();
    renderList();
    renderMessages();
    showError("");
    closeNavOnPhone();
    $("prompt").focus();
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

  function fillAnswer(node, m, index) {
    const body = node.querySelector(".body");
    body.innerHTML = renderMarkdown(m.content, citeLinker(m.citations, index));
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
    if (m.id && m.content && serverInfo.feedback_enabled) actions.append(feedbackNode(m));
    node.append(actions);
  }

  function feedbackNode(m) {
    const fb = m.feedback || {};
    const status = el("span", { className: "feedback-status", role: "status", text: fb.sent ? t("feedbackSent") : "" });
    const wrap = el("div", { className: "feedback" });
    const thumb = (rating, glyph) =>
      el("button", { type: "button", className: "rate-" + rating + " icon-only", "aria-label": t(rating), title: t(rating), "aria-pressed": fb.rating === rating ? "true" : "false", text: glyph, onclick: () => sendFeedback(m, { rating }, status) });
    wrap.append(thumb("up", "👍"), thumb("down", "👎"));
    if (serverInfo.keeps_conversation_text) {
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

  function renderMessages() {
    const box = $("messages");
    const c = current();
    box.replaceChildren(...(c ? c.messages.map(messageNode) : []));
    if (c && sourcesFor === null) {
      for (let i = c.messages.length - 1; i >= 0; i--) if (c.messages[i].role === "assistant") { sourcesFor = i; break; }
    }
    showSources(sourcesFor, false);
    box.scrollTop = box.scrollHeight;
  }

  function showSources(index, focus) {
    const c = current();
    const m = c && index !== null ? c.messages[index] : null;
    const list = $("sources-list");
    const cites = (m && m.citations) || [];
    sourcesFor = m ? index : null;
    list.replaceChildren(...cites.map((s, i) => sourceNode(s, i)));
    $("sources-empty").hidden = cites.length > 0;
    $("sources").classList.toggle("has-sources", cites.length > 0);
    if (focus) (cites.length ? list.firstChild : $("sources-heading")).focus();
  }

  function sourceNode(s, i) {
    const bad = s.verified === false;
    const title = "《" + (s.law || "") + "》" + (s.label || s.article || "");
    const meta = [];
    if (s.version_date) meta.push(t("versionDate") + ": " + s.version_date);
    if (s.status) meta.push(t("status") + ": " + (TEXT[lang][s.status] || s.status));
    if (s.given) meta.push(t("given", s.given));
    else if (s.cited_as) meta.push(t("citedOnly"));
    if (s.given && !s.cited_as && "cited_as" in s) meta.push(t("notCited"));
    const li = el("li", { id: "src-" + i, tabindex: "-1", className: "source" + (bad ? " unverified" : "") },
      el("h3", { text: title }),
      bad ? el("p", { className: "badge", text: t("unverifiedMark") + (s.reason ? ": " + s.reason : "") }) : null,
      s.verified === true ? el("p", { className: "ok", text: t("verified") }) : null,
      meta.length ? el("p", { className: "meta", text: meta.join(" · ") }) : null,
      s.text ? el("blockquote", { text: s.text }) : null,
      s.origin ? el("p", { className: "origin", text: t("origin") + ": " + s.origin }) : null);
    return li;
  }

  // -- asking -------------------------------------------------------------------------------

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

  async function ask() {
    const prompt = $("prompt");
    const text = prompt.value;
    if (!text.trim() || controller) return;
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
    sourcesFor = index;
    conversations = [c, ...conversations.filter((x) => x !== c)];
    save();
    renderList();
    renderMessages();
    prompt.value = "";
    // looked up each time: switching the language re-renders the list while the answer streams
    const shown = () => (currentId === c.id ? $("messages").querySelector(`article[data-index="${index}"]`) : null);
    let scheduled = false;
    let savedAt = Date.now();
    const update = () => {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        const node = shown();
        if (node) followBottom(() => fillAnswer(node, answer, index));
        if (Date.now() - savedAt > 1000) { save(); savedAt = Date.now(); } // survives a closed tab
      });
    };
    controller = new AbortController();
    setBusy(true);
    try {
      const res = await api("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model, messages, stream: true }), signal: controller.signal });
      if (!res.ok) {
        answer.error = await errorText(res);
        if (res.status === 401) askForKey(t("unauthorized"));
        showError(answer.error);
      } else {
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
    } catch (e) {
      if (e.name === "AbortError") answer.stopped = true;
      else { answer.error = t("network", e.message); showError(answer.error); }
    } finally {
      controller = null;
      delete answer.pending;
      if (!answer.content && !answer.stopped && !answer.error) answer.error = t("failed", "-", "");
      save();
      setBusy(false);
      const node = shown();
      if (node) followBottom(() => { fillAnswer(node, answer, index); showSources(index, false); });
      if (document.activeElement === document.body || document.activeElement === $("stop")) prompt.focus();
    }
  }

  // -- export -------------------------------------------------------------------------------

  function toMarkdown(c) {
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

  function exportCurrent() {
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

  // -- API key ------------------------------------------------------------------------------

  function askForKey(message) {
    const dialog = $("key-dialog");
    $("key-message").textContent = message || "";
    $("key-input").value = "";
    if (!dialog.open) dialog.showModal();
    $("key-input").focus();
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
    const models = ((await res.json()).data || []).map((m) => m.id);
    const select = $("model");
    const wanted = localStorage.getItem(MODEL);
    select.replaceChildren(...models.map((id) => el("option", { value: id, text: id })));
    if (wanted && models.includes(wanted)) select.value = wanted;
    if (!models.length) showError(t("noModels"));
  }

  async function loadServerInfo() {
    try {
      const res = await fetch("/v1/server-info");
      if (res.ok) serverInfo = Object.assign(await res.json(), { loaded: true });
    } catch (e) { /* the page still works without it */ }
    renderPrivacy();
    renderMessages();
  }

  // -- wiring -------------------------------------------------------------------------------

  function closeNavOnPhone() {
    if (window.matchMedia("(max-width: 700px)").matches) {
      document.body.classList.remove("nav-open");
      $("toggle-nav").setAttribute("aria-expanded", "false");
    }
  }

  function wire() {
    $("composer").addEventListener("submit", (e) => { e.preventDefault(); ask(); });
    $("prompt").addEventListener("keydown", (e) => {
      // an input method (Chinese pinyin, …) confirms its candidate with Enter: that is not "send"
      if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
      e.preventDefault();
      ask();
    });
    $("stop").addEventListener("click", () => { if (controller) controller.abort(); $("prompt").focus(); });
    $("new-chat").addEventListener("click", () => {
      if (controller) controller.abort();
      const c = current();
      if (!c || c.messages.length) newConversation();
      sourcesFor = null;
      save();
      renderList();
      renderMessages();
      closeNavOnPhone();
      $("prompt").focus();
    });
    $("export").addEventListener("click", exportCurrent);
    $("lang").addEventListener("click", () => {
      lang = lang === "zh" ? "en" : "zh";
      localStorage.setItem(LANG, lang);
      applyLanguage();
    });
    $("model").addEventListener("change", () => localStorage.setItem(MODEL, $("model").value));
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

  window.LegalEdgeChat = { createSSEParser, renderMarkdown, escapeHtml, articleKey, toMarkdown };

  document.addEventListener("DOMContentLoaded", () => {
    wire();
    applyLanguage();
    loadServerInfo().then(() => loadModels(false));
    document.body.dataset.ready = "true";
  });
})();
