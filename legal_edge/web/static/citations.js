// Statute citations in an answer, placed by the server: each entry of the response's `citations`
// lists its `mentions` with `start`/`end` offsets into the answer text (code points), so the page
// never parses citations itself (one grammar, on the server: legal_edge/statutes/citations.py).
// markMentions() wraps each mention in private-use sentinels before the Markdown renderer runs;
// citeLinker() turns the escaped, wrapped runs into links to the sources panel.

const OPEN = "\uE000";
const MID = "\uE001";
const CLOSE = "\uE002";
const WRAPPED = /\uE000(\d+)\uE001([^\uE000-\uE002]*)\uE002/g;
export const LEFTOVER = /\uE000\d+\uE001|\uE002/g; // a sentinel the renderer did not link (code)

// How a mention stands: not found (no such article in force), misattributed (its sentence
// restates another given article), corrected (the server rewrote its number to the given article
// whose words the sentence restates: `corrected_from` is what the model wrote), supported
// (restated in the article's own words), or named only (cited, not restated).
export function verdict(m) {
  if (m.exists === false) return "unverified";
  if (m.supported === false) return "misattributed";
  if (m.corrected_from) return "corrected";
  if (m.supported === true) return "supported";
  return "named";
}

function mentionsOf(citations) {
  const out = [];
  (citations || []).forEach((c, src) => (c.mentions || []).forEach((m) => out.push({ ...m, src })));
  return out;
}

// The answer with each mention the server placed wrapped as OPEN k MID text CLOSE (k: its number
// in mentionsOf order); offsets that do not fit the text (an edited answer) are skipped.
export function markMentions(content, citations) {
  const mentions = mentionsOf(citations);
  if (!mentions.length) return content;
  const chars = Array.from(content); // code points, as the server counts
  const order = mentions.map((m, k) => ({ ...m, k })).sort((a, b) => b.start - a.start);
  let limit = chars.length;
  for (const m of order) {
    if (!(m.start >= 0 && m.start < m.end && m.end <= limit)) continue;
    chars.splice(m.end, 0, CLOSE);
    chars.splice(m.start, 0, OPEN + m.k + MID);
    limit = m.start;
  }
  return chars.join("");
}

const MARK = { unverified: " ⚠", misattributed: " ⚠", corrected: " ✎", supported: " ✓", named: "" };

// A `cite` function for renderMarkdown over text marked by markMentions: each mention becomes a
// link to its source (data-msg: the answer, data-src: the source) classed by its verdict, the
// article's text as its tooltip (a corrected one's tooltip first says what the model wrote:
// `correctedNote`, the page's words for it); null when there are no citations.
export function citeLinker(citations, msgIndex, escape, correctedNote = (from) => from) {
  const mentions = mentionsOf(citations);
  if (!mentions.length) return null;
  return (escaped) =>
    escaped.replace(WRAPPED, (whole, k, text) => {
      const m = mentions[Number(k)];
      if (!m) return text;
      const v = verdict(m);
      const text0 = (citations[m.src] && citations[m.src].text) || "";
      const tip = escape(m.corrected_from ? correctedNote(m.corrected_from) + "\n" + text0 : text0);
      return `<a class="cite ${v}" href="#src-${m.src}" data-msg="${msgIndex}" data-src="${m.src}" title="${tip}">${text}${MARK[v]}</a>`;
    });
}
