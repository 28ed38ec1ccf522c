// The page's words in Chinese and English, and the reader's choice between them.

const LANG = "legal-edge.lang"; // localStorage: the choice is remembered

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
    citedOnly: "回答引用，未经检索", supported: "✓ 回答的转述与本条原文相符", namedOnly: "仅引用，回答未转述本条",
    misattributed: "⚠ 回答在本条名下转述的是检索到的第 {0} 条的内容", notCited: "回答未引用",
    corrected: "✎ 条号已更正：回答原写作“{0}”，但所转述的是本条原文", correctedLink: "条号已更正，原写作“{0}”", privacyNoText: "本服务器不保存对话内容：反馈只发送赞或踩，不发送任何文字。对话只保存在本浏览器中。",
    privacyKeeps: "本服务器在管理员设定的期限内保存问题和回答的文字，用于反馈和改进模型。对话列表只保存在本浏览器中。",
    feedbackOff: "本服务器不保存对话内容，也未开启反馈。对话只保存在本浏览器中。",
    unauthorized: "API 密钥无效或缺失，请重新输入。", keyWrong: "密钥不正确，请重新输入。",
    queueFull: "服务器正忙（排队已满），请{0}后再试。", seconds: "{0} 秒",
    later: "稍后", contextTooLong: "对话太长，超出了模型能读取的长度。请新建对话，或缩短问题后再试。",
    network: "无法连接服务器：{0}", failed: "请求失败（{0}）：{1}", noModels: "没有可用的模型。",
    modelLoading: "模型仍在加载，请稍后再试。", timeout: "回答超时，请缩短问题后重试。",
    ungrounded: "注意：此模型回答时不使用法条库：回答不附检索到的法条，其中引用的条文也未经核实。原因：{0}",
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
    citedOnly: "cited by the answer, not retrieved", supported: "✓ supported: the answer restates this article's own words",
    namedOnly: "named only: the answer does not restate it",
    misattributed: "⚠ not supported: the answer restates retrieved article {0} under this number", notCited: "not cited by the answer",
    corrected: "✎ number corrected from “{0}”: the answer restates this article's own words under that number", correctedLink: "number corrected from “{0}”",
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
    ungrounded: "Note: this model answers without the statute books: its answers carry no retrieved articles and the articles they cite are not checked. Why: {0}",
    you_md: "You", assistant_md: "Assistant", exported: "Conversation",
  },
};
let lang = localStorage.getItem(LANG) || (/^zh/i.test(navigator.language || "") ? "zh" : "en");

export const currentLang = () => lang;

export function switchLang() {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem(LANG, lang);
}

// t("queueFull", "5 秒"): the text in the current language, {0}… filled in; English, then the
// key itself, where a text is missing.
export function t(key, ...args) {
  const s = (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
  return s.replace(/\{(\d)\}/g, (_, i) => String(args[+i]));
}

// A server word (a statute's status: in_force, repealed, …) in the current language, else as sent.
export function serverWord(word) {
  return Object.hasOwn(TEXT[lang], word) ? TEXT[lang][word] : word;
}

// Every element marked data-i18n / data-i18n-label / data-i18n-placeholder, in the current language.
export function translatePage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
}
