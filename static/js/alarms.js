// Raised and cleared alarms arrive on the project's group (joined by the page shell).
document.addEventListener("nubes:alarm", function (e) {
  const a = e.detail.data;
  window.Nubes.toast(`Alarm ${a.rule_name} on ${a.object_name}: ${a.state} (${a.metric} = ${a.value === null ? "?" : a.value.toFixed(2)})`, a.state === "raised" ? "failed" : "succeeded");
});
