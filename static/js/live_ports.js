// Link cells follow their ports: rows carry data-subscribe="network.port.<id>" (realtime.js joins
// them) and the published body is the API's port representation.
document.addEventListener("nubes:port", function (e) {
  const port = e.detail.data;
  document.querySelectorAll(`[data-port="${port.id}"] [data-field="link"]`).forEach(function (cell) {
    cell.textContent = port.status_label || port.status;
  });
});
