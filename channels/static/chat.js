// The local chat page. Keeps a random sender id in localStorage so the
// conversation (and the chosen language) survives a page reload.
"use strict";
(function () {
  const log = document.getElementById("log");
  const input = document.getElementById("input");
  const form = document.getElementById("composer");
  const languages = document.getElementById("languages");
  const store = window.localStorage;
  function newSender() {
    const id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    store.setItem("nabo.sender", id);
    return id;
  }
  let sender = store.getItem("nabo.sender") || newSender();
  let lang = store.getItem("nabo.lang") || "";
  let texts = {};

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

  function add(kind, text, buttons) {
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

  async function send(text, shown) {
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
  let shown = [];
  async function pollInbox() {
    try {
      const res = await fetch("/api/inbox", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: sender, ack: shown }),
      });
      if (!res.ok) return;
      shown = [];
      for (const m of (await res.json()).messages || []) { add("bot", m.text, m.buttons); shown.push(m.id); }
    } catch (e) { /* offline: try again later; nothing is lost */ }
  }
  setInterval(pollInbox, 10000);

  // "Delete my conversation": the server erases everything kept for this id,
  // then this device forgets it too (id, language, what is on the screen).
  document.getElementById("erase").addEventListener("click", async () => {
    if (!window.confirm(texts["delete.confirm"] || "?")) return;
    try {
      const res = await fetch("/api/erase", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: sender, lang: lang }),
      });
      const data = await res.json();
      if (!res.ok || !data.erased) {
        for (const m of data.messages || []) add("bot error", m.text);
        return;
      }
      store.removeItem("nabo.sender"); store.removeItem("nabo.lang");
      window.sessionStorage.clear();
      shown = [];
      log.replaceChildren();
      sender = newSender();
      for (const m of data.messages || []) add("bot", m.text);
    } catch (e) {
      add("bot error", "…");
    }
  });
  loadTexts(lang);
})();
