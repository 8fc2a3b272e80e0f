// rasid's only script: the watchlist editor's live preview and small conveniences.
// Everything it inserts was rendered (and escaped) by the server.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  const editor = document.querySelector("form[data-preview]");
  if (editor) {
    const target = document.getElementById("preview");
    const url = editor.dataset.preview;
    let sequence = 0;
    const refresh = async function () {
      const mine = ++sequence;
      const body = new URLSearchParams(new FormData(editor));
      target.setAttribute("aria-busy", "true");
      try {
        const answer = await fetch(url, {
          method: "POST",
          body,
          headers: { "X-CSRF-Token": csrf },
          credentials: "same-origin",
        });
        const html = await answer.text();
        if (mine === sequence) target.innerHTML = html;
      } finally {
        if (mine === sequence) target.removeAttribute("aria-busy");
      }
    };
    const later = debounce(refresh, 350);
    editor.addEventListener("input", later);
    target.addEventListener("click", function (event) {
      const button = event.target.closest("button[data-query]");
      if (!button) return;
      event.preventDefault();
      const field = editor.querySelector(button.dataset.field || "textarea[name=queries]");
      if (field) {
        field.value = button.dataset.query;
        refresh();
      }
    });
    refresh();
  }

  document.addEventListener("submit", function (event) {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
