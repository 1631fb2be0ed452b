// The migrate form's target pool select lists every target host's pools in one optgroup per
// host (labelled with the host's name). Once a target is picked, only its group stays
// selectable; the scheduler's choice (or a host with no group here) keeps them all. Without
// this script the grouped list still works: the server checks the pool against the target.
(function () {
  "use strict";

  function narrow(target, pools) {
    const picked = target.selectedOptions[0];
    const host = picked && picked.value ? picked.textContent.trim() : "";
    const groups = Array.from(pools.querySelectorAll("optgroup"));
    const known = groups.some((group) => group.label === host);
    groups.forEach(function (group) {
      const other = known && group.label !== host;
      group.hidden = other;
      group.disabled = other;
    });
    const chosen = pools.selectedOptions[0];
    if (chosen && chosen.parentElement.disabled) pools.value = "";
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-pools-of]").forEach(function (pools) {
      const target = pools.form && pools.form.elements[pools.dataset.poolsOf];
      if (!target) return;
      target.addEventListener("change", () => narrow(target, pools));
      narrow(target, pools);
    });
  });
})();
