// Server-Sent Events as the chat completions stream sends them: one event per blank line,
// "data:" lines joined with a newline, lines ended by CR, LF or CRLF, comments ignored.
// The browser's EventSource cannot POST, so the page reads the stream itself.

export function createSSEParser(onData) {
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
