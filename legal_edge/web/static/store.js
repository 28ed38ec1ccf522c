// What the page remembers: the conversations (localStorage, this browser only), the one shown,
// and the state of the answer being asked for.

const STORE = "legal-edge.conversations.v1";
const CURRENT = "legal-edge.current";

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

// One object the modules share (an ES module's exported variables are read-only to others).
export const state = {
  conversations: loadConversations(),
  currentId: localStorage.getItem(CURRENT),
  serverInfo: { keeps_conversation_text: false, feedback_enabled: false, requires_api_key: false },
  controller: null, // the AbortController of the answer that streams, if one does
  sourcesFor: null, // index of the answer whose sources are shown
};

export function save() {
  localStorage.setItem(STORE, JSON.stringify(state.conversations));
  if (state.currentId) localStorage.setItem(CURRENT, state.currentId);
  else localStorage.removeItem(CURRENT);
}

export const current = () => state.conversations.find((c) => c.id === state.currentId) || null;

export function newConversation() {
  const c = { id: "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8), title: "", created: Date.now(), messages: [] };
  state.conversations.unshift(c);
  state.currentId = c.id;
  return c;
}
