// The instance page: live state, the graphical console (noVNC) and the serial console.
(function () {
  "use strict";
  const card = document.getElementById("instance");
  // Live state from the websocket group compute.instance.<id>, no reload.
  let shown = "";  // the `updated` stamp on screen: an older read never overwrites a newer event
  function apply(data) {
    if (String(data.id) !== card.dataset.instanceId || (data.updated && data.updated < shown)) return;
    shown = data.updated || shown;
    card.querySelectorAll("[data-field]").forEach(function (el) {
      const name = el.dataset.field;
      if (!(name in data)) return;
      // The human label when the API gives one (state_label), as the page rendered it.
      el.textContent = data[name] === null ? "—" : (data[name + "_label"] || data[name]);
      if (name === "state") { el.className = "status status-" + data.state; el.dataset.state = data.state; }
    });
    followConsole(data);
  }
  document.addEventListener("nubes:instance", function (e) { apply(e.detail.data); });
  // What changed between rendering and joining the group (or while the socket was lost): read
  // the instance once after each join.
  window.Nubes.onJoin(card.dataset.subscribe, function () {
    fetch(`/api/v1/instances/${card.dataset.instanceId}/`, {headers: {Accept: "application/json"}})
      .then((r) => r.ok ? r.json() : null).then(function (data) {
        if (data) apply(data);
        card.dataset.caughtUp = String(Number(card.dataset.caughtUp || 0) + 1);  // for tests
      });
  });
  // Graphical console: a one-minute ticket from the API, then noVNC (an ES module from npm,
  // loaded only when asked) speaking RFB over the same-origin websocket proxy.
  const vnc = document.getElementById("vnc");
  const controls = document.getElementById("vnc-controls");  // present when this user may connect
  const vncMessage = document.getElementById("vnc-message");
  const vncError = document.getElementById("vnc-error");
  let rfb = null;
  // The panel follows the instance's live state: refused while it cannot open (stopped, no VNC
  // port yet), back to what this user may do (data-vnc-access) once the refusal clears.
  function followConsole(data) {
    if (!("console_refusal" in data)) return;
    if (data.console_refusal) {
      vnc.dataset.vncState = "refused";  // before the disconnect, whose handler then leaves it
      if (rfb) rfb.disconnect();
      vncMessage.textContent = data.console_refusal;
    } else if (vnc.dataset.vncState === "refused") {
      vnc.dataset.vncState = vnc.dataset.vncAccess;
      vncMessage.textContent = vnc.dataset.accessMessage;
    } else {
      return;
    }
    const ready = vnc.dataset.vncState === "ready";
    vncMessage.hidden = ready;
    vncError.hidden = true;
    if (controls) controls.hidden = !ready;
  }
  if (controls) {
    const view = document.getElementById("vnc-screen");
    const status = document.getElementById("vnc-status");
    const error = vncError;
    const buttons = {open: document.getElementById("vnc-open"), cad: document.getElementById("vnc-cad"),
                     close: document.getElementById("vnc-close")};
    let desktop = "", refused = "";
    function show(state, text, failed) {
      vnc.dataset.vncState = state;  // connecting / connected / disconnected / failed: what tests wait for
      status.textContent = text;
      error.hidden = !failed;
      error.textContent = failed ? text : "";
      buttons.open.disabled = state === "connecting" || state === "connected";
      buttons.cad.disabled = buttons.close.disabled = state !== "connected";
    }
    async function open() {
      show("connecting", "Connecting…", false);
      desktop = refused = "";
      const csrf = vnc.querySelector("input[name=csrfmiddlewaretoken]").value;
      const response = await fetch(vnc.dataset.tokenUrl,
        {method: "POST", headers: {Accept: "application/json", "X-CSRFToken": csrf}});
      const ticket = await response.json();
      if (!response.ok) { show("failed", ticket.detail || JSON.stringify(ticket), true); return; }
      const {default: RFB} = await import(vnc.dataset.rfbModule);
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      view.replaceChildren();
      // Our own socket, so its close reason (why the proxy ended it: moved, stopped, refused) is shown.
      // The proxy authenticates to the VNC server itself: noVNC is offered no authentication.
      const socket = new WebSocket(`${scheme}://${location.host}${ticket.url}`, ["binary"]);
      let closeReason = "";
      socket.addEventListener("close", (e) => { closeReason = e.reason; });
      rfb = new RFB(view, socket);
      rfb.scaleViewport = true;  // a large guest desktop fits the panel
      // desktopname comes with ServerInit, just before connect.
      rfb.addEventListener("desktopname", (e) => { desktop = e.detail.name; });
      rfb.addEventListener("connect", () => show("connected", desktop ? `Connected to ${desktop}.` : "Connected.", false));
      rfb.addEventListener("securityfailure", (e) => { refused = `VNC refused the connection: ${e.detail.reason || e.detail.status}`; });
      rfb.addEventListener("disconnect", (e) => {
        rfb = null;
        if (vnc.dataset.vncState === "refused") return;  // the instance stopped: followConsole said so
        if (refused || closeReason || !e.detail.clean) show("failed", refused || closeReason || "The console connection was lost.", true);
        else show("disconnected", "Disconnected.", false);
      });
    }
    buttons.open.addEventListener("click", () => open().catch((err) => show("failed", String(err), true)));
    buttons.cad.addEventListener("click", () => { if (rfb) rfb.sendCtrlAltDel(); });
    buttons.close.addEventListener("click", () => { if (rfb) rfb.disconnect(); });
  }
  // Serial console: text streamed over its own websocket.
  const pre = document.getElementById("console");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${pre.dataset.consoleUrl}`);
  socket.onmessage = function (msg) {
    const m = JSON.parse(msg.data);
    pre.textContent += m.text;
    pre.scrollTop = pre.scrollHeight;
  };
  socket.onclose = function () { pre.textContent += "\n[console closed]\n"; };
  // Typing (members and admins: data-console-input): each key as the bytes a terminal sends.
  const KEYS = {Enter: "\r", Backspace: "\x7f", Tab: "\t", Escape: "\x1b", ArrowUp: "\x1b[A",
                ArrowDown: "\x1b[B", ArrowRight: "\x1b[C", ArrowLeft: "\x1b[D", Delete: "\x1b[3~"};
  function keyText(e) {
    if (e.ctrlKey && !e.altKey && e.key.length === 1 && /[a-z@\[\\\]^_]/i.test(e.key)) {
      return String.fromCharCode(e.key.toUpperCase().charCodeAt(0) & 0x1f);  // Ctrl+C -> ETX
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return null;
    return KEYS[e.key] || (e.key.length === 1 ? e.key : null);
  }
  if (pre.dataset.consoleInput === "on") {
    pre.addEventListener("keydown", function (e) {
      const text = keyText(e);
      if (text === null || socket.readyState !== WebSocket.OPEN) return;
      e.preventDefault();
      socket.send(JSON.stringify({input: text}));
    });
    pre.addEventListener("paste", function (e) {
      const text = (e.clipboardData || window.clipboardData).getData("text");
      if (text && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({input: text.slice(0, 4096)}));
      e.preventDefault();
    });
  }
})();
