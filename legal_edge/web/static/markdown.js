// The Markdown subset the model writes: paragraphs, lists, headings, bold, inline and fenced code.
//
// Why a hand-written subset and not a vendored renderer (marked) behind a sanitizer (DOMPurify):
// this renderer escapes the whole answer first and then only adds tags from a fixed list (p, br,
// ul, ol, li, strong, code, pre; the citation links come from citations.js over the same escaped
// text), so no path exists on which the model's text becomes markup and nothing needs cleaning
// afterwards. A full renderer passes raw HTML through by design, so its safety would rest on a
// sanitizer being configured right and kept patched, about 70 KB of third-party code in an
// offline office install that we would have to update by hand. Its extra syntax (tables, links,
// images) is what a legal answer should not bring onto the page anyway.

export function escapeHtml(s) {
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

// renderMarkdown(answer, cite): HTML for the answer; cite (optional) rewrites escaped text runs
// outside code, to link the statute citations it finds.
export function renderMarkdown(source, cite) {
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
