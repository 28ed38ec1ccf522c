// Statute citations in an answer (《…》第…条), matched to the response's `citations` (the
// articles the server retrieved or checked), and turned into links to the sources panel.

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

// "第一百二十条之一" -> "120-1"; a form it cannot read comes back without spaces, unchanged
export function articleKey(article) {
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

// runs over escaped text: the law's name cannot hold markup characters
const MENTION = /《([^《》<>&]{1,60})》\s*(第[^条<>&\s]{1,20}条(?:之[一二三四五六七八九十]+)?)/g;

// A `cite` function for renderMarkdown: each mention the response's citations know becomes a
// link to its source (data-msg: the answer, data-src: the source); null when there are none.
export function citeLinker(citations, msgIndex) {
  if (!citations || !citations.length) return null;
  return (escaped) =>
    escaped.replace(MENTION, (whole, law, article) => {
      const i = findCitation(citations, law, article, whole);
      if (i < 0) return whole;
      const bad = citations[i].verified === false;
      return `<a class="cite${bad ? " unverified" : ""}" href="#src-${i}" data-msg="${msgIndex}" data-src="${i}">${whole}${bad ? " ⚠" : ""}</a>`;
    });
}
