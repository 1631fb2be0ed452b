// One websocket per page to /ws/. Pages declare what they follow with data-subscribe="group";
// the project's group is joined from <body data-project>. Operation events update every element
// marked data-operation="<id>" and raise a toast when an operation ends.
(function () {
  "use strict";
  const handlers = {};          // group -> [fn]
  const wanted = new Set();
  let socket = null;
  let delay = 500;

  function on(group, fn) {
    (handlers[group] = handlers[group] || []).push(fn);
    subscribe(group);
  }

  function subscribe(group) {
    wanted.add(group);
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({action: "subscribe", group: group}));
    }
  }

  // fn() after each join of `group` (the first and each reconnect's), and at once if the page
  // has joined it already: what moved before a join is not replayed, so the caller reads it.
  function onJoin(group, fn) {
    document.addEventListener("nubes:subscribed", (e) => { if (e.detail.group === group) fn(); });
    if ((document.body.dataset.wsSubscribed || "").split(" ").includes(group)) fn();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/`);
    socket.onopen = function () {
      delay = 500;
      document.body.dataset.ws = "open";
      wanted.forEach((g) => socket.send(JSON.stringify({action: "subscribe", group: g})));
    };
    socket.onmessage = function (msg) {
      const m = JSON.parse(msg.data);
      if (m.event === "subscribed") {
        document.body.dataset.wsSubscribed = (document.body.dataset.wsSubscribed || "") + " " + m.group;
        // After each join (the first, and again after a reconnect): what the page shows may
        // already be older than the stream (events before the join are not replayed).
        document.dispatchEvent(new CustomEvent("nubes:subscribed", {detail: m}));
        return;
      }
      if (m.event === "operation") { updateOperation(m.data, m.group === "cloud"); }
      (handlers[m.group] || []).forEach((fn) => fn(m));
      document.dispatchEvent(new CustomEvent("nubes:" + m.event, {detail: m}));
    };
    socket.onclose = function () {
      document.body.dataset.ws = "closed";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }

  const seen = {};
  function updateOperation(op, fromCloud) {
    // A cloud admin hears every project (for the lists): no new rows or toasts from projects
    // other than the one being worked in.
    const elsewhere = fromCloud && String(op.project) !== document.body.dataset.project;
    document.querySelectorAll(`[data-operation="${op.id}"]`).forEach(function (el) {
      el.querySelectorAll("[data-field]").forEach(function (f) {
        const name = f.dataset.field;
        if (name === "progress") { f.value = op.progress; }
        else if (name === "progress-text") { f.textContent = op.progress + "%"; }
        else if (name === "status") { f.textContent = op.status_label || op.status; f.className = "status status-" + op.status; }
        else if (name === "finished") { f.textContent = op.finished ? op.finished.replace("T", " ").slice(0, 19) : "—"; }
        else if (name in op) { f.textContent = op[name] || ""; }
      });
    });
    const table = document.querySelector("[data-subscribe-project] tbody");
    if (table && !elsewhere && !table.querySelector(`[data-operation="${op.id}"]`)) {
      const empty = table.querySelector("tr.empty");
      if (empty) empty.remove();
      const row = document.createElement("tr");
      row.dataset.operation = op.id;
      row.innerHTML = `<td><a href="/operations/${op.id}/"></a></td><td></td><td></td><td><span data-field="status"></span></td>` +
        `<td><progress max="100" data-field="progress"></progress></td><td data-field="message"></td><td></td><td></td>`;
      row.children[0].firstChild.textContent = op.id;
      row.children[1].textContent = op.kind;
      row.children[2].textContent = op.target_name;
      row.children[6].textContent = op.requester || "system";
      row.children[7].textContent = (op.created || "").replace("T", " ").slice(0, 19);
      table.prepend(row);
      updateOperation(op, fromCloud);
    }
    const final = ["succeeded", "failed", "cancelled"].includes(op.status);
    if (final && !elsewhere && seen[op.id] !== op.status) {
      seen[op.id] = op.status;
      toast(`${op.kind} ${op.target_name}: ${op.status}${op.status === "failed" ? " — " + op.message : ""}`, op.status);
    }
  }

  function toast(text, kind) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const t = document.createElement("div");
    t.className = "toast " + (kind || "");
    t.textContent = text;
    box.appendChild(t);
    setTimeout(() => t.remove(), 8000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.querySelector(".topbar")) return;  // signed out: no socket
    if (document.body.dataset.project) subscribe("project." + document.body.dataset.project);
    document.querySelectorAll("[data-subscribe]").forEach((el) => subscribe(el.dataset.subscribe));
    connect();
  });

  window.Nubes = {on: on, onJoin: onJoin, subscribe: subscribe, toast: toast};
})();
