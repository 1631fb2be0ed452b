// HA events: new ones arrive over the websocket (scheduler.ha_events publishes them); add their
// rows to the table#ha-events on the page. Loaded once per page, also when htmx swaps the table in.
(function () {
  "use strict";
  if (window.NubesHaEvents) return;
  window.NubesHaEvents = true;
  document.addEventListener("nubes:ha_event", function (e) {
    const table = document.getElementById("ha-events");
    const ev = e.detail.data;
    if (!table || e.detail.group !== table.dataset.haGroup || table.querySelector(`[data-ha-event="${ev.id}"]`)) return;
    const empty = table.querySelector("tr.empty");
    if (empty) empty.remove();
    const row = document.createElement("tr");
    row.dataset.haEvent = ev.id;
    [(ev.created || "").replace("T", " ").slice(0, 19), ev.host_name || "—", ev.instance_name || "—", ev.kind_label,
     ev.detail].forEach(function (text) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    });
    table.tBodies[0].prepend(row);
  });
})();
