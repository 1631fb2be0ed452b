// Lists (django-tables2 tables) and detail blocks follow the websocket without a reload. An
// element marked data-live-targets="storage.volume ..." is read again from the same URL (a
// list's filter, sort and page kept) when an operation on such a target moves;
// data-live-events="instance port" does the same on those events. A table's body is swapped
// (ticked boxes stay ticked), any other element whole.
// After each websocket join every such block, and each marked data-live-rejoin (rows that follow
// their own events), reads itself once: what moved before the join was never sent.
// A header checkbox (data-select-all) ticks every row of its table. A cloud admin's page with such
// lists also joins the "cloud" group, which hears every project's changes.
(function () {
  "use strict";
  const DEBOUNCE_MS = 200;
  const timers = new WeakMap();

  const asked = {}, applied = {};  // element id -> number of the latest read asked / shown

  // Reads waiting or under way, on <body data-live-reads> (tests wait for 0 before acting).
  let pending = 0;
  function count(step) { pending += step; document.body.dataset.liveReads = String(pending); }

  function refresh(table) {
    if (timers.has(table)) clearTimeout(timers.get(table)); else count(1);
    timers.set(table, setTimeout(function () {
      timers.delete(table);
      const id = table.id;
      const number = (asked[id] = (asked[id] || 0) + 1);
      fetch(location.href, {headers: {"X-Requested-With": "fetch"}, credentials: "same-origin"})
        .then((response) => response.ok ? response.text() : null)
        .then(function (html) {
          // An answer older than the one on screen is dropped (reads can answer out of order);
          // the block is looked up again: an earlier answer may have swapped it already.
          if (number < (applied[id] || 0)) return;
          applied[id] = number;
          table = document.getElementById(id);
          const fresh = html && table && new DOMParser().parseFromString(html, "text/html").getElementById(id);
          if (!fresh) return;
          const refreshed = String(Number(table.dataset.refreshed || 0) + 1);
          if (table.tagName !== "TABLE") {
            fresh.dataset.refreshed = refreshed;
            table.replaceWith(document.adoptNode(fresh));
            return;
          }
          const ticked = new Set(Array.from(table.querySelectorAll("tbody input[type=checkbox]:checked"), (box) => box.value));
          const body = document.adoptNode(fresh.querySelector("tbody"));
          body.querySelectorAll("input[type=checkbox]").forEach((box) => { box.checked = ticked.has(box.value); });
          table.querySelector("tbody").replaceWith(body);
          table.dataset.refreshed = refreshed;
        })
        .finally(() => count(-1));
    }, DEBOUNCE_MS));
  }

  function tables(attribute) {  // read at each event: a replaced block is a new element
    return Array.from(document.querySelectorAll(`[${attribute}]`));
  }

  document.addEventListener("nubes:operation", function (e) {
    const target = e.detail.data.target_type;
    tables("data-live-targets").forEach(function (table) {
      if (table.dataset.liveTargets.split(" ").includes(target)) refresh(table);
    });
  });

  // Joined (or joined again after a lost socket): every live block reads itself once, since
  // what changed between its rendering and the join was never sent to this page. The debounce
  // makes the several joins of one connection a single read per block.
  document.addEventListener("nubes:subscribed", function () {
    tables("data-live-targets").concat(tables("data-live-events"), tables("data-live-rejoin")).forEach(refresh);
  });

  document.addEventListener("DOMContentLoaded", function () {
    // A cloud admin's lists show every project's rows: follow every project (the "cloud" group).
    if ("cloud" in document.body.dataset && (tables("data-live-targets").length || tables("data-live-events").length)) {
      window.Nubes.subscribe("cloud");
    }
    tables("data-live-events").forEach(function (table) {
      table.dataset.liveEvents.split(" ").forEach(function (name) {
        document.addEventListener("nubes:" + name, () => refresh(table));
      });
    });
    document.querySelectorAll("input[data-select-all]").forEach(function (all) {
      all.addEventListener("change", function () {
        all.closest("table").querySelectorAll("tbody input[type=checkbox]").forEach((box) => { box.checked = all.checked; });
      });
    });
  });
})();
