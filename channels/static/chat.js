// The local chat page. Keeps a random sender id in localStorage so the
// conversation (and the chosen language) survives a page reload, and the
// last bubbles (HISTORY_LIMIT) on this device only: nothing more is stored on
// the server. Erasing (the erase button, or typing /delete) clears them too.
"use strict";
(function () {
  const log = document.getElementById("log");
  const input = document.getElementById("input");
  const form = document.getElementById("composer");
  const languages = document.getElementById("languages");
  const store = window.localStorage;
  function newSender() {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  let sender = store.getItem("nabo.sender");
  if (!sender) {
    sender = newSender();
    store.setItem("nabo.sender", sender);
  }
  let lang = store.getItem("nabo.lang") || "";
  const HISTORY_KEY = "nabo.history";
  const HISTORY_LIMIT = 100;
  let texts = {};

  function readHistory() {
    try {
      const items = JSON.parse(store.getItem(HISTORY_KEY) || "[]");
      return Array.isArray(items) ? items : [];
    } catch (e) { return []; }
  }
  let history = readHistory();

  function remember(kind, text, buttons, id) {
    history.push({ kind: kind, text: String(text), buttons: buttons || [], id: id === undefined ? null : id });
    if (history.length > HISTORY_LIMIT) history = history.slice(history.length - HISTORY_LIMIT);
    try { store.setItem(HISTORY_KEY, JSON.stringify(history)); } catch (e) { /* full: the page still works */ }
  }

  function linkify(node, text) {
    // Turn URLs into links without ever inserting HTML.
    const parts = text.split(/(https?:\/\/[^\s)]+)/g);
    for (const part of parts) {
      if (/^https?:\/\//.test(part)) {
        const a = document.createElement("a");
        a.href = part; a.textContent = part; a.target = "_blank"; a.rel = "noopener noreferrer";
        node.appendChild(a);
      } else if (part) {
        node.appendChild(document.createTextNode(part));
      }
    }
  }

  function add(kind, text, buttons, id) {
    remember(kind, text, buttons, id);
    show(kind, text, buttons);
  }

  function show(kind, text, buttons) {
    const div = document.createElement("div");
    div.className = "msg " + kind;
    div.dir = "auto";
    linkify(div, text);
    if (buttons && buttons.length) {
      const row = document.createElement("div");
      row.className = "buttons";
      for (const b of buttons) {
        const btn = document.createElement("button");
        btn.type = "button"; btn.dir = "auto"; btn.textContent = b.title;
        btn.dataset.payload = b.payload;
        btn.addEventListener("click", () => send(b.payload, b.title));
        row.appendChild(btn);
      }
      div.appendChild(row);
    }
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }

  async function loadTexts(code) {
    const res = await fetch("/api/texts?lang=" + encodeURIComponent(code || ""));
    const t = await res.json();
    texts = t;
    document.getElementById("erase").textContent = t["web.erase.button"];
    document.documentElement.lang = code || "nb";
    document.documentElement.dir = t.dir;
    document.getElementById("title").textContent = t["web.title"];
    document.title = t["web.title"];
    input.placeholder = t["web.placeholder"];
    document.getElementById("send").textContent = t["web.send.button"];
    document.getElementById("letter-label").title = t["web.letter.button"];
    document.getElementById("letter-label").setAttribute("aria-label", t["web.letter.button"]);
    texts = t;
    document.getElementById("erase").textContent = t["web.erase.button"];
    languages.setAttribute("aria-label", t["language.choose"]);
    if (!languages.childElementCount) {
      for (const [c, name] of Object.entries(t.languages)) {
        const b = document.createElement("button");
        b.type = "button"; b.textContent = name; b.dataset.lang = c;
        b.addEventListener("click", () => chooseLanguage(c, name));
        languages.appendChild(b);
      }
    }
    for (const b of languages.children) b.setAttribute("aria-pressed", String(b.dataset.lang === code));
  }

  function chooseLanguage(code, name) {
    lang = code; store.setItem("nabo.lang", code);
    loadTexts(code);
    send("/language" + JSON.stringify({ lang: code }), name);
  }

  // Erase: on the server (the conversation, the channel's records, the case's
  // personal fields) and on this device (the history, the id, the language).
  async function erase() {
    if (!window.confirm(texts["web.erase.confirm"] || "?")) return;
    let done = false;
    try {
      const res = await fetch("/api/erase", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ sender: sender }),
      });
      done = res.ok;
    } catch (e) { done = false; }
    if (!done) { show("bot error", "…"); return; }
    for (const key of [HISTORY_KEY, "nabo.sender", "nabo.lang", "nabo.unacked"]) store.removeItem(key);
    history = []; shown = [];
    log.replaceChildren();
    sender = newSender(); store.setItem("nabo.sender", sender);
    show("bot", texts["delete.done"] || "");
  }
  document.getElementById("erase").addEventListener("click", erase);

  async function send(text, shown) {
    if (/^\/(delete|slett)$/i.test(text.trim())) { erase(); return; }
    add("user", shown || text);
    let data;
    try {
      const res = await fetch("/api/messages", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: sender, text: text, lang: lang, id: newId() }),
      });
      data = await res.json();
      for (const m of data.messages || []) add(res.ok ? "bot" : "bot error", m.text, m.buttons);
    } catch (e) {
      add("bot error", "…");
    }
  }

  // A photo or PDF of a letter: read on the server (in memory) and explained.
  const letterInput = document.getElementById("letter");
  letterInput.addEventListener("change", async () => {
    const file = letterInput.files[0];
    if (!file) return;
    add("user", "\u{1F4CE} " + file.name);
    const body = new FormData();
    body.append("sender", sender); body.append("file", file);
    try {
      const res = await fetch("/api/letter?lang=" + encodeURIComponent(lang), { method: "POST", body: body });
      const data = await res.json();
      for (const m of data.messages || []) add(res.ok ? "bot" : "bot error", m.text, m.buttons);
    } catch (e) {
      add("bot error", "…");
    }
    letterInput.value = "";
  });

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
  });
  // A message id, so a message sent again after a lost response is answered once.
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }
  // Answers that come later (a caseworker's, one kept while the assistant was down):
  // fetched now and then, and acknowledged by id on the next call once shown.
  // Ids shown but not yet acknowledged survive a reload, so nothing is shown twice.
  let shown = [];
  try { shown = JSON.parse(store.getItem("nabo.unacked") || "[]"); } catch (e) { shown = []; }
  if (!Array.isArray(shown)) shown = [];
  async function pollInbox() {
    try {
      const res = await fetch("/api/inbox", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: sender, ack: shown }),
      });
      if (!res.ok) return;
      shown = [];
      const inHistory = new Set(history.map((h) => h.id).filter((id) => id !== null));
      for (const m of (await res.json()).messages || []) {
        if (!inHistory.has(m.id)) add("bot", m.text, m.buttons, m.id);
        shown.push(m.id);
      }
      store.setItem("nabo.unacked", JSON.stringify(shown));
    } catch (e) { /* offline: try again later; nothing is lost */ }
  }
  for (const h of history) show(h.kind, h.text, h.buttons);  // the conversation so far, from this device
  setInterval(pollInbox, 10000);
  loadTexts(lang).then(pollInbox);
})();
