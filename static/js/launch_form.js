// The launch form shows the chosen flavor's sizes and the quota left after this launch
// (count × the flavor), from the flavor options' data-* and the quota rows' data-in-use/limit.
document.addEventListener("DOMContentLoaded", function () {
  const form = document.getElementById("launch-form");
  if (!form) return;
  const flavor = form.querySelector("select[name=flavor]");
  const count = form.querySelector("input[name=count]");
  const details = document.getElementById("flavor-details");
  function update() {
    const chosen = flavor.selectedOptions[0];
    const data = chosen && chosen.value ? chosen.dataset : null;
    const n = Math.max(parseInt(count && count.value, 10) || 1, 1);
    details.textContent = data ? `${data.vcpus} vCPU · ${data.ramMb} MiB RAM · ${data.diskGb} GiB disk per instance` : "";
    const per = {instances: 1, vcpus: data ? +data.vcpus : 0, ram_mb: data ? +data.ramMb : 0, disk_gb: data ? +data.diskGb : 0};
    document.querySelectorAll("#launch-quota tr[data-resource]").forEach(function (row) {
      const left = +row.dataset.limit - +row.dataset.inUse - n * (per[row.dataset.resource] || 0);
      const cell = row.querySelector("[data-field=left]");
      cell.textContent = left >= 0 ? String(left) : `over by ${-left}`;
      cell.className = left >= 0 ? "" : "error";
    });
  }
  flavor.addEventListener("change", update);
  if (count) count.addEventListener("input", update);
  update();
});
