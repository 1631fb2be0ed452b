// Behaviour the templates declare with data attributes instead of inline handlers (the
// Content-Security-Policy allows no inline script): data-confirm on a form asks before it is
// submitted, data-autosubmit on a select submits its form on change, data-nav-toggle opens the menu.
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    const question = e.target.dataset && e.target.dataset.confirm;
    if (question && !window.confirm(question)) e.preventDefault();
  });
  document.addEventListener("change", function (e) {
    if (e.target.matches("select[data-autosubmit]") && e.target.form) e.target.form.submit();
  });
  document.addEventListener("click", function (e) {
    if (e.target.closest("[data-nav-toggle]")) document.body.classList.toggle("nav-open");
  });
})();
