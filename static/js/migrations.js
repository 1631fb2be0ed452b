// Rows of running migrations follow their groups (joined through data-subscribe).
document.addEventListener("DOMContentLoaded", function () {
  document.addEventListener("nubes:migration.progress", function (e) {
    const row = document.querySelector(`tr[data-migration="${e.detail.data.migration}"]`);
    if (!row) return;
    row.querySelector('[data-mfield="progress"]').value = e.detail.data.percent;
    row.querySelector('[data-mfield="percent-text"]').textContent = e.detail.data.percent + "%";
  });
  document.addEventListener("nubes:migration", function (e) {
    const row = document.querySelector(`tr[data-migration="${e.detail.data.id}"]`);
    if (!row) return;
    const state = row.querySelector('[data-mfield="state"]');
    state.textContent = e.detail.data.state_label || e.detail.data.state;
    state.className = "status status-" + e.detail.data.state;
    row.querySelector('[data-mfield="progress"]').value = e.detail.data.percent;
    row.querySelector('[data-mfield="percent-text"]').textContent = e.detail.data.percent + "%";
  });
});
