/*
 * Lotse web chat. No framework, no build step, no external resources; runs under
 * `script-src 'self'` (this file is the only script; it creates no inline script or style attribute).
 *
 * Configuration comes from data- attributes on <body> (api, lang, start); every UI string is already
 * in the page (hidden where it is shown on demand), so this file carries no UI text.
 *
 * Messages are rendered with textContent only: they contain user-typed text echoed back.
 */
(function () {
  "use strict";

  // the engine's limit (bot.engine.normalise.MAX_MESSAGE_CHARS, from the page), in code points as Python counts
  var MAX_CHARS = parseInt(document.body.getAttribute("data-max-chars"), 10) || 4096;
  var MAX_BUBBLES = 100; // kept in localStorage
  var TYPING_MS = 20000;
  var POLL_WAIT_S = 25;
  var POST_TIMEOUT_MS = 15000;
  var BACKOFF_START_MS = 1000;
  var BACKOFF_MAX_MS = 30000;
  var KEYS = {
    session: "lotse.session",
    after: "lotse.after",
    transcript: "lotse.transcript",
    pending: "lotse.pending",
  };

  // ------------------------------------------------------------------ storage (localStorage, else memory)
  var memory = {};
  var local = (function () {
    try {
      var s = window.localStorage;
      s.setItem("lotse.probe", "1");
      s.removeItem("lotse.probe");
      return s;
    } catch (e) {
      return null; // blocked (e.g. third-party iframe in a strict browser): keep state for this page only
    }
  })();

  function load(key) {
    if (local) {
      try {
        return local.getItem(key);
      } catch (e) {
        /* fall through */
      }
    }
    return Object.prototype.hasOwnProperty.call(memory, key) ? memory[key] : null;
  }
  function save(key, value) {
    memory[key] = value;
    if (local) {
      try {
        local.setItem(key, value);
      } catch (e) {
        /* quota: the memory copy still serves this page */
      }
    }
  }
  function forget(key) {
    delete memory[key];
    if (local) {
      try {
        local.removeItem(key);
      } catch (e) {
        /* ignore */
      }
    }
  }
  function loadJSON(key, fallback) {
    try {
      var value = JSON.parse(load(key));
      return value === null || value === undefined ? fallback : value;
    } catch (e) {
      return fallback;
    }
  }

  // ------------------------------------------------------------------ page
  var body = document.body;
  var config = {
    api: (body.getAttribute("data-api") || "").replace(/\/+$/, ""),
    lang: body.getAttribute("data-lang") || "de",
    start: (body.getAttribute("data-start") || "").trim(),
  };
  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("input");
  var typing = document.getElementById("typing");
  var status = document.getElementById("status");
  var retry = document.getElementById("retry");
  var tooLongNote = document.getElementById("too-long");
  var select = document.getElementById("language");

  function isDir(value) {
    return value === "rtl" || value === "ltr";
  }
  function isLangTag(value) {
    return typeof value === "string" && /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(value);
  }
  function codePoints(text) {
    return Array.from(text).length;
  }

  function newId() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === "function") {
      try {
        return c.randomUUID(); // only in secure contexts (https, localhost)
      } catch (e) {
        /* fall through */
      }
    }
    var bytes = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") {
      c.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    return Array.from(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }

  // ------------------------------------------------------------------ waiting that "retry" can cut short
  var sleepers = [];
  function sleep(ms) {
    return new Promise(function (resolve) {
      var timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        var at = sleepers.indexOf(done);
        if (at >= 0) sleepers.splice(at, 1);
        resolve();
      }
      sleepers.push(done);
    });
  }
  function wakeAll() {
    sleepers.slice().forEach(function (done) {
      done();
    });
  }
  function backoff(delay) {
    return Math.min(delay * 2, BACKOFF_MAX_MS);
  }

  // ------------------------------------------------------------------ HTTP
  async function request(method, path, payload, timeoutMs, token) {
    var controller = new AbortController();
    var timer = setTimeout(function () {
      controller.abort();
    }, timeoutMs);
    var headers = { Accept: "application/json" };
    if (payload !== null) headers["Content-Type"] = "application/json";
    if (token) headers["X-Lotse-Session"] = token;
    try {
      var response = await fetch(config.api + path, {
        method: method,
        headers: headers,
        body: payload === null ? undefined : JSON.stringify(payload),
        cache: "no-store",
        credentials: "same-origin",
        signal: controller.signal,
      });
      var data = null;
      try {
        data = await response.json();
      } catch (e) {
        data = null;
      }
      return { status: response.status, data: data };
    } finally {
      clearTimeout(timer);
    }
  }

  function offline() {
    status.hidden = false;
  }
  function online() {
    status.hidden = true;
  }

  // ------------------------------------------------------------------ transcript and rendering
  var transcript = [];
  var bubbles = {}; // client message id -> user bubble element
  var after = 0;
  var lastBotAt = 0;

  function validEntry(entry) {
    return (
      entry &&
      (entry.k === "bot" || entry.k === "user") &&
      typeof entry.t === "string" &&
      (entry.b === undefined || Array.isArray(entry.b))
    );
  }

  function cleanButtons(buttons) {
    if (!Array.isArray(buttons)) return [];
    return buttons
      .filter(function (b) {
        return b && typeof b.title === "string" && b.title !== "";
      })
      .map(function (b) {
        return { title: b.title, payload: typeof b.payload === "string" ? b.payload : b.title };
      });
  }

  function saveTranscript() {
    if (transcript.length > MAX_BUBBLES) transcript = transcript.slice(-MAX_BUBBLES);
    save(KEYS.transcript, JSON.stringify(transcript));
  }

  function render(entry) {
    var turn = document.createElement("div");
    turn.className = "turn turn-" + entry.k;

    var bubble = document.createElement("div");
    bubble.className = "bubble bubble-" + entry.k;
    bubble.setAttribute("data-testid", entry.k === "bot" ? "bubble-bot" : "bubble-user");
    bubble.dir = isDir(entry.d) ? entry.d : "auto";
    if (isLangTag(entry.l)) bubble.lang = entry.l;
    if (entry.f) bubble.classList.add("failed");
    bubble.textContent = entry.t; // never innerHTML: the text may be anything a user typed
    turn.appendChild(bubble);

    var buttons = entry.k === "bot" ? cleanButtons(entry.b) : [];
    if (buttons.length) {
      var group = document.createElement("div");
      group.className = "buttons";
      group.setAttribute("role", "group");
      if (isDir(entry.d)) group.dir = entry.d;
      buttons.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "bot-button";
        button.setAttribute("data-testid", "bot-button");
        button.dir = "auto";
        if (isLangTag(entry.l)) button.lang = entry.l;
        button.textContent = b.title;
        button.addEventListener("click", function () {
          press(b);
        });
        group.appendChild(button);
      });
      turn.appendChild(group);
    }

    if (entry.k === "user" && entry.id) bubbles[entry.id] = bubble;
    log.appendChild(turn);
    return turn;
  }

  function add(entry) {
    transcript.push(entry);
    saveTranscript();
    return render(entry);
  }

  function clearLog() {
    transcript = [];
    bubbles = {};
    while (log.firstChild) log.removeChild(log.firstChild);
    saveTranscript();
  }

  // ------------------------------------------------------------------ scrolling
  var stick = true; // the reader is at the bottom of the log

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  }
  function toBottom() {
    log.scrollTop = log.scrollHeight;
    stick = true;
  }
  function reveal(firstNew) {
    // A long answer is shown from its beginning, a short one by scrolling to the end.
    if (firstNew && log.scrollHeight - firstNew.offsetTop > log.clientHeight) {
      log.scrollTop = Math.max(0, firstNew.offsetTop - 8);
      stick = nearBottom();
    } else {
      toBottom();
    }
  }
  log.addEventListener("scroll", function () {
    stick = nearBottom();
  });
  if (typeof ResizeObserver === "function") {
    // the phone keyboard opening shrinks the log: keep the newest message in view
    new ResizeObserver(function () {
      if (stick) log.scrollTop = log.scrollHeight;
    }).observe(log);
  }

  // ------------------------------------------------------------------ typing indicator
  var typingTimer = null;
  function showTyping() {
    typing.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_MS);
    if (stick) toBottom();
  }
  function hideTyping() {
    clearTimeout(typingTimer);
    typing.hidden = true;
  }

  // ------------------------------------------------------------------ outgoing queue (kept across reloads)
  var queue = [];

  function validItem(item) {
    return item && typeof item.id === "string" && typeof item.text === "string";
  }
  function saveQueue() {
    save(KEYS.pending, JSON.stringify(queue));
  }
  function removeFromQueue(item) {
    queue = queue.filter(function (other) {
      return other.id !== item.id;
    });
    saveQueue();
  }

  function enqueue(text, payload, options) {
    var item = {
      id: newId(),
      text: text,
      payload: payload === undefined ? null : payload,
      language: config.lang,
      silent: !!(options && options.silent),
    };
    if (options && options.reloadLang) item.reloadLang = options.reloadLang;
    if (!item.silent) {
      reveal(add({ k: "user", id: item.id, t: text }));
    }
    queue.push(item);
    saveQueue();
    pump();
    return item;
  }

  function setBubbleState(item, state) {
    var bubble = bubbles[item.id];
    if (!bubble) return;
    bubble.classList.toggle("unsent", state === "unsent");
    bubble.classList.toggle("failed", state === "failed");
    if (state === "failed") {
      transcript.forEach(function (entry) {
        if (entry.k === "user" && entry.id === item.id) entry.f = true;
      });
      saveTranscript();
    }
  }

  function reloadWithLanguage(code) {
    var url = new URL(window.location.href);
    url.searchParams.set("lang", code);
    window.location.assign(url.toString());
  }

  var pumping = false;
  async function pump() {
    if (pumping) return;
    pumping = true;
    try {
      var delay = BACKOFF_START_MS;
      while (queue.length) {
        var item = queue[0];
        var token = await getSession();
        if (queue[0] !== item) continue; // a new session put its /start first
        var startedAt = Date.now();
        var response = null;
        try {
          response = await request(
            "POST",
            "/messages",
            { id: item.id, text: item.text, payload: item.payload, language: item.language },
            POST_TIMEOUT_MS,
            token
          );
        } catch (e) {
          response = null; // network error or timeout: retried below with the same id
        }
        var code = response ? response.status : 0;
        if (code === 401) {
          dropSession(token);
          continue;
        }
        if (code >= 200 && code < 300) {
          online();
          delay = BACKOFF_START_MS;
          removeFromQueue(item);
          setBubbleState(item, "sent");
          if (lastBotAt < startedAt) showTyping();
          if (item.reloadLang) reloadWithLanguage(item.reloadLang);
          continue;
        }
        if (code >= 400 && code < 500 && code !== 408 && code !== 429) {
          // rejected for good (400 bad request, 413 too long, ...): never resent
          online();
          delay = BACKOFF_START_MS;
          removeFromQueue(item);
          setBubbleState(item, "failed");
          if (code === 413) tooLong(true);
          if (item.reloadLang) reloadWithLanguage(item.reloadLang);
          continue;
        }
        setBubbleState(item, "unsent");
        offline();
        await sleep(delay);
        delay = backoff(delay);
      }
    } finally {
      pumping = false;
    }
  }

  // ------------------------------------------------------------------ session
  var session = load(KEYS.session);
  var creating = null;

  function getSession() {
    if (session) return Promise.resolve(session);
    if (!creating) {
      creating = createSession().finally(function () {
        creating = null;
      });
    }
    return creating;
  }

  async function createSession() {
    var delay = BACKOFF_START_MS;
    for (;;) {
      var response = null;
      try {
        response = await request("POST", "/session", {}, POST_TIMEOUT_MS, null);
      } catch (e) {
        response = null;
      }
      if (response && response.status >= 200 && response.status < 300 && response.data &&
          typeof response.data.session === "string" && response.data.session) {
        online();
        session = response.data.session;
        save(KEYS.session, session);
        startConversation();
        return session;
      }
      offline();
      await sleep(delay);
      delay = backoff(delay);
    }
  }

  function dropSession(token) {
    if (session === token) {
      session = null;
      forget(KEYS.session);
    }
  }

  function startConversation() {
    // A new session is a new conversation: the old transcript and message ids no longer apply.
    after = 0;
    save(KEYS.after, "0");
    clearLog();
    queue = queue.filter(function (item) {
      return !item.silent;
    });
    queue.forEach(function (item) {
      add({ k: "user", id: item.id, t: item.text }); // messages still waiting to be sent stay visible
    });
    queue.unshift({
      id: newId(),
      text: config.start ? "/start " + config.start : "/start",
      payload: null,
      language: config.lang,
      silent: true,
    });
    saveQueue();
    toBottom();
    pump();
  }

  // ------------------------------------------------------------------ incoming (long poll)
  function receive(messages) {
    var fresh = messages
      .filter(function (m) {
        return m && Number.isFinite(Number(m.id)) && Number(m.id) > after;
      })
      .sort(function (a, b) {
        return Number(a.id) - Number(b.id);
      });
    if (!fresh.length) return;
    var first = null;
    fresh.forEach(function (m) {
      after = Number(m.id);
      var turn = add({
        k: "bot",
        id: after,
        t: typeof m.text === "string" ? m.text : String(m.text === undefined || m.text === null ? "" : m.text),
        b: cleanButtons(m.buttons),
        d: isDir(m.dir) ? m.dir : undefined,
        l: isLangTag(m.language) ? m.language : undefined,
      });
      first = first || turn;
    });
    save(KEYS.after, String(after));
    lastBotAt = Date.now();
    hideTyping();
    reveal(first);
  }

  async function poll() {
    var delay = BACKOFF_START_MS;
    for (;;) {
      var token = await getSession();
      var startedAt = Date.now();
      var response = null;
      try {
        response = await request(
          "GET",
          "/messages?after=" + encodeURIComponent(String(after)) + "&wait=" + POLL_WAIT_S,
          null,
          (POLL_WAIT_S + 20) * 1000,
          token
        );
      } catch (e) {
        response = null;
      }
      if (response && response.status === 401) {
        dropSession(token);
        continue;
      }
      if (response && response.status === 200 && response.data && Array.isArray(response.data.messages)) {
        online();
        delay = BACKOFF_START_MS;
        if (token === session) receive(response.data.messages);
        if (!response.data.messages.length && Date.now() - startedAt < 500) {
          await sleep(1000); // a server that does not hold the request must not be hammered
        }
        continue;
      }
      offline();
      await sleep(delay);
      delay = backoff(delay);
    }
  }

  // ------------------------------------------------------------------ user actions
  function tooLong(show) {
    tooLongNote.hidden = !show;
    if (show) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", "too-long");
    } else {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
  }

  // dir="auto" on an empty field would make the placeholder left-to-right in an Arabic page: the field
  // follows the page until the text has a letter, then the text's own direction.
  var LETTER = /\p{L}/u;
  function followText() {
    if (LETTER.test(input.value)) input.dir = "auto";
    else input.removeAttribute("dir");
  }

  function autosize() {
    input.style.height = "auto"; // CSSOM, allowed by the CSP (only style attributes in markup are not)
    var border = input.offsetHeight - input.clientHeight;
    input.style.height = input.scrollHeight + border + "px";
  }

  function submit() {
    var text = input.value.trim();
    if (!text) return;
    if (codePoints(text) > MAX_CHARS) {
      tooLong(true);
      input.focus();
      return;
    }
    tooLong(false);
    enqueue(text, null);
    input.value = "";
    followText();
    autosize();
    input.focus();
  }

  function languageCode(payload) {
    var match = /^lang:([a-z]{2,3})$/.exec(payload || "");
    if (!match || match[1] === config.lang) return null;
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === match[1]) return match[1];
    }
    return null;
  }

  function press(button) {
    var code = languageCode(button.payload);
    enqueue(button.title, button.payload, code ? { reloadLang: code } : null);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", function (event) {
    // Enter sends, Shift+Enter is a new line; never while an input method is composing
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  input.addEventListener("input", function () {
    followText();
    autosize();
    if (codePoints(input.value.trim()) > MAX_CHARS) tooLong(true);
    else if (!tooLongNote.hidden) tooLong(false);
  });
  retry.addEventListener("click", wakeAll);
  window.addEventListener("online", wakeAll);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") wakeAll();
  });

  // Language: a mouse or touch choice applies at once; stepping through the closed list with the
  // arrow keys applies on Enter or when the list loses focus (no reload per key press).
  var lastListKey = 0;
  var chosenLanguage = null;
  var languageSent = false;
  function applyLanguage() {
    var code = chosenLanguage;
    chosenLanguage = null;
    if (!code || code === config.lang || languageSent) return;
    languageSent = true;
    var option = select.options[select.selectedIndex];
    enqueue(option ? option.textContent.trim() : code, "lang:" + code, { reloadLang: code });
  }
  select.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      if (chosenLanguage) {
        event.preventDefault();
        applyLanguage();
      }
      return;
    }
    if (/^(Arrow|Page|Home$|End$)/.test(event.key) || event.key.length === 1) lastListKey = Date.now();
  });
  select.addEventListener("change", function () {
    chosenLanguage = select.value;
    if (Date.now() - lastListKey > 250) applyLanguage();
  });
  select.addEventListener("blur", applyLanguage);

  // ------------------------------------------------------------------ start
  transcript = loadJSON(KEYS.transcript, []);
  if (!Array.isArray(transcript)) transcript = [];
  transcript = transcript.filter(validEntry).slice(-MAX_BUBBLES);
  transcript.forEach(render);

  queue = loadJSON(KEYS.pending, []);
  if (!Array.isArray(queue)) queue = [];
  queue = queue.filter(validItem);

  var storedAfter = Number(load(KEYS.after));
  after = Number.isFinite(storedAfter) && storedAfter > 0 ? storedAfter : 0;

  body.classList.add("ready");
  toBottom();
  autosize();
  pump();
  poll();
})();
