/* Mamori browser terminals: xterm.js (fit + unicode11) over a WebSocket to a range host.
 *
 * Three modes, chosen by #terminals[data-mode]: "shell" (a trainee's terminals in tabs),
 * "watch" (an instructor follows one terminal live, read-only) and "replay" (a recording
 * played back with its timing). Strings and URLs come from #terminal-config (JSON), since
 * the page allows no inline script.
 */
(function () {
  "use strict";

  var root = document.getElementById("terminals");
  var configNode = document.getElementById("terminal-config");
  if (!root || !configNode) { return; }
  var config = JSON.parse(configNode.textContent);
  var text = config.messages || {};
  var FONT = '"Noto Sans Mono CJK JP", "DejaVu Sans Mono", "Menlo", "Consolas", monospace';

  function makeTerminal(options) {
    var term = new window.Terminal(Object.assign({
      allowProposedApi: true, // the unicode API (double-width Japanese) is still "proposed"
      cursorBlink: true, fontFamily: FONT, fontSize: 15, scrollback: 5000,
      theme: { background: "#111827", foreground: "#e5e7eb" }
    }, options || {}));
    term.loadAddon(new window.Unicode11Addon.Unicode11Addon());
    term.unicode.activeVersion = "11";
    var fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    return { term: term, fit: fit };
  }

  function socketBase() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
  }

  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (content) { node.textContent = content; }
    return node;
  }

  /* ---- a trainee's terminals, in tabs ---- */

  var tabs = [];
  window.mamoriTerminals = tabs; // read by the browser tests (and handy in the console)

  function activate(tab) {
    tabs.forEach(function (other) {
      var on = other === tab;
      other.tabButton.setAttribute("aria-selected", on ? "true" : "false");
      other.panel.hidden = !on;
    });
    tab.fit.fit();
    tab.term.focus();
  }

  function setStatus(tab, message, state, reconnect) {
    tab.state = state;
    tab.status.textContent = message;
    tab.status.className = "term-status term-" + state;
    tab.reconnectButton.hidden = !reconnect;
    tab.tabButton.classList.toggle("term-tab-ended", state !== "open" && state !== "connecting");
  }

  function connect(tab) {
    var size = "cols=" + tab.term.cols + "&rows=" + tab.term.rows;
    var url = socketBase() + config.socketUrl.replace("__HOST__", encodeURIComponent(tab.host)) +
      "?account=" + encodeURIComponent(tab.account) + "&" + size;
    var ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    tab.ws = ws;
    tab.ended = false;
    tab.opened = false;
    setStatus(tab, text.connecting, "connecting", false);
    ws.onopen = function () { tab.opened = true; };
    ws.onmessage = function (event) {
      if (typeof event.data !== "string") {
        tab.term.write(new Uint8Array(event.data));
        return;
      }
      var message = JSON.parse(event.data);
      if (message.type === "open") {
        tab.attempts = 0;
        tab.session = message.session;
        setStatus(tab, text.connected + " — " + message.account + "@" + message.host, "open", false);
      } else if (message.type === "end") {
        tab.ended = true;
        tab.endReason = message.reason;
        setStatus(tab, message.message, "ended", message.reconnect);
      }
    };
    ws.onclose = function () {
      if (tab.closedByUser || tab.ended) { return; }
      // No word from the server: it went away (restarting?) or refused us. Try again a while.
      tab.attempts = (tab.attempts || 0) + 1;
      if (tab.attempts > 20) {
        setStatus(tab, tab.opened ? text.serverLost : text.refused, "ended", true);
        return;
      }
      setStatus(tab, text.serverLost, "lost", true);
      tab.retry = window.setTimeout(function () { connect(tab); }, Math.min(1000 * tab.attempts, 10000));
    };
  }

  function send(tab, message) {
    if (tab.ws && tab.ws.readyState === WebSocket.OPEN && !tab.ended) {
      tab.ws.send(JSON.stringify(message));
    }
  }

  function clipboardKeys(tab) {
    tab.term.attachCustomKeyEventHandler(function (event) {
      if (event.type !== "keydown" || !event.ctrlKey || !event.shiftKey) { return true; }
      if (event.code === "KeyC") {
        var selected = tab.term.getSelection();
        if (selected && navigator.clipboard) { navigator.clipboard.writeText(selected); }
        return false;
      }
      // Ctrl+Shift+V: let the browser paste (xterm takes the paste event).
      return event.code !== "KeyV";
    });
  }

  function openTab(host, account) {
    var list = root.querySelector(".term-tablist");
    var panels = root.querySelector(".term-panels");
    var made = makeTerminal();
    var tab = { host: host, account: account, term: made.term, fit: made.fit };
    var label = host + "（" + account + "）";
    tab.tabButton = el("button", "term-tab", label);
    tab.tabButton.type = "button";
    tab.tabButton.setAttribute("role", "tab");
    var item = el("li");
    var close = el("button", "term-close", "×");
    close.type = "button";
    close.setAttribute("aria-label", text.close + " " + label);
    item.appendChild(tab.tabButton);
    item.appendChild(close);
    list.appendChild(item);

    tab.panel = el("div", "term-panel");
    tab.panel.setAttribute("role", "tabpanel");
    var bar = el("div", "term-bar");
    tab.status = el("p", "term-status");
    tab.status.setAttribute("role", "status");
    tab.reconnectButton = el("button", "term-reconnect", text.reconnect);
    tab.reconnectButton.type = "button";
    bar.appendChild(tab.status);
    bar.appendChild(tab.reconnectButton);
    var screen = el("div", "term-screen");
    tab.panel.appendChild(bar);
    tab.panel.appendChild(screen);
    panels.appendChild(tab.panel);
    tabs.push(tab);

    tab.term.open(screen);
    activate(tab);
    tab.term.onData(function (data) { send(tab, { type: "input", data: data }); });
    tab.term.onResize(function (size) { send(tab, { type: "resize", cols: size.cols, rows: size.rows }); });
    clipboardKeys(tab);
    tab.tabButton.addEventListener("click", function () { activate(tab); });
    tab.reconnectButton.addEventListener("click", function () {
      window.clearTimeout(tab.retry);
      tab.attempts = 0;
      tab.term.write("\r\n");
      connect(tab);
    });
    close.addEventListener("click", function () {
      tab.closedByUser = true;
      window.clearTimeout(tab.retry);
      if (tab.ws) { tab.ws.close(); }
      tab.term.dispose();
      item.remove();
      tab.panel.remove();
      tabs.splice(tabs.indexOf(tab), 1);
      if (tabs.length) { activate(tabs[tabs.length - 1]); }
    });
    connect(tab);
    return tab;
  }

  function startShell() {
    document.querySelectorAll(".term-new").forEach(function (button) {
      button.addEventListener("click", function () { openTab(button.dataset.host, button.dataset.account); });
    });
    window.addEventListener("resize", function () {
      tabs.forEach(function (tab) { if (!tab.panel.hidden) { tab.fit.fit(); } });
    });
    if (config.open) {
      var first = document.querySelector('.term-new[data-host="' + CSS.escape(config.open) + '"]');
      if (first) { first.click(); }
    }
  }

  /* ---- an instructor watching live, read-only ---- */

  function startWatch() {
    var made = makeTerminal({ disableStdin: true, cursorBlink: false });
    var status = root.querySelector(".term-status");
    made.term.open(root.querySelector(".term-screen"));
    window.mamoriTerminals.push({ term: made.term });
    status.textContent = text.connecting;
    var ws = new WebSocket(socketBase() + config.socketUrl);
    ws.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "header") {
        made.term.resize(message.cols, message.rows);
        status.textContent = text.live;
      } else if (message.type === "o") {
        made.term.write(message.data);
      } else if (message.type === "r") {
        var size = String(message.data).split("x");
        made.term.resize(Number(size[0]), Number(size[1]));
      } else if (message.type === "end") {
        status.textContent = message.message;
      }
    };
  }

  /* ---- a recording, played back ---- */

  function startReplay() {
    var made = makeTerminal({ disableStdin: true, cursorBlink: false });
    var status = root.querySelector(".term-status");
    made.term.open(root.querySelector(".term-screen"));
    window.mamoriTerminals.push({ term: made.term });
    var events = [];
    var position = 0;
    var speed = 1;
    var timer = null;
    var clock = 0;

    function apply(event) {
      if (event[1] === "o") {
        made.term.write(event[2]);
      } else if (event[1] === "r") {
        var size = String(event[2]).split("x");
        made.term.resize(Number(size[0]), Number(size[1]));
      }
    }

    function step() {
      timer = null;
      while (position < events.length && events[position][0] <= clock) { apply(events[position++]); }
      if (position >= events.length) { status.textContent = text.ended; return; }
      var next = events[position][0];
      var wait = Math.min(next - clock, 2); // long pauses are shortened to 2 s
      clock = next;
      timer = window.setTimeout(step, (wait * 1000) / speed);
    }

    function restart() {
      window.clearTimeout(timer);
      made.term.reset();
      position = 0;
      clock = 0;
      status.textContent = "";
      step();
    }

    fetch(config.castUrl, { credentials: "same-origin" }).then(function (response) {
      return response.text();
    }).then(function (body) {
      var lines = body.split("\n").filter(function (line) { return line.trim(); });
      var header = JSON.parse(lines.shift());
      made.term.resize(header.width, header.height);
      events = lines.map(function (line) { return JSON.parse(line); });
      restart();
    });

    root.querySelectorAll(".term-controls button").forEach(function (button) {
      button.addEventListener("click", function () {
        var action = button.dataset.action;
        if (action === "play") { restart(); }
        if (action === "speed") { speed = Number(button.dataset.speed); }
        if (action === "end") {
          window.clearTimeout(timer);
          while (position < events.length) { apply(events[position++]); }
          status.textContent = text.ended;
        }
      });
    });
  }

  function start() {
    var mode = root.dataset.mode;
    if (mode === "shell") { startShell(); }
    if (mode === "watch") { startWatch(); }
    if (mode === "replay") { startReplay(); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
