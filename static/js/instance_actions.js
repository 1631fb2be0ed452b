// The instance page's action buttons follow its state live: a form marked
// data-states="shutoff" shows only while the instance is in one of those states (the server
// renders them from compute.choices.ALLOWED_FROM, so no Start on a running instance). The state
// badge's data-state (its text is the human label) is the source: the page's script sets it from
// events and from its read after joining.
document.addEventListener("DOMContentLoaded", function () {
  const badge = document.getElementById("instance-state");
  const card = document.getElementById("instance");
  if (!badge || !card) return;
  function follow() {
    const state = badge.dataset.state;
    card.querySelectorAll("form[data-states]").forEach(function (form) {
      form.hidden = !form.dataset.states.split(" ").includes(state);
    });
  }
  new MutationObserver(follow).observe(badge, {attributes: true, attributeFilter: ["data-state"]});
});
