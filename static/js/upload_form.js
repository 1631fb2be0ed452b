// An upload form (form[data-upload-progress]) sends its file by XHR so the page shows how much has
// been sent. The server reads the form as it arrives and stores each part before taking more
// (portal/form_uploads.py), so the bar follows the storing, not a copy. On success the page goes
// where the server redirected; a refused upload shows the form again with its errors. Without
// this script the form posts as usual (the browser's own progress in its status bar).
(function () {
  "use strict";

  function megabytes(bytes) { return (bytes / 1048576).toFixed(1); }

  function bind(form) {
    const bar = form.querySelector("progress[data-upload-bar]");
    const text = form.querySelector("[data-upload-text]");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        bar.hidden = false;
        bar.value = Math.floor(100 * e.loaded / e.total);
        text.textContent = `${megabytes(e.loaded)} of ${megabytes(e.total)} MiB sent`;
      });
      xhr.upload.addEventListener("load", function () { text.textContent = "Sent; finishing…"; });
      xhr.addEventListener("load", function () {
        const landed = new URL(xhr.responseURL || form.action, location.href);
        if (xhr.status < 400 && landed.pathname !== new URL(form.action, location.href).pathname) {
          location.assign(landed.href);
          return;
        }
        const fresh = new DOMParser().parseFromString(xhr.responseText, "text/html").getElementById(form.id);
        if (fresh && form.id) {
          form.replaceWith(fresh);
          bind(fresh);
        } else {
          text.textContent = `The upload was refused (${xhr.status}).`;
          button.disabled = false;
        }
      });
      xhr.addEventListener("error", function () {
        text.textContent = "The upload broke off (the connection failed); nothing of it was kept.";
        button.disabled = false;
      });
      button.disabled = true;
      bar.hidden = false;
      bar.value = 0;
      xhr.send(new FormData(form));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-upload-progress]").forEach(bind);
  });
})();
