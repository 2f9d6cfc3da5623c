// certadmin page behaviour. Loaded as a static file: the Content-Security-Policy forbids inline script.
(function () {
  "use strict";

  // Selects marked data-autosubmit submit their form when changed (language switch).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-autosubmit]")) {
      target.form.requestSubmit ? target.form.requestSubmit() : target.form.submit();
    }
  });

  // Buttons marked data-copy-target copy the text of the element with that id.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var done = button.getAttribute("data-copied-label");
      if (done) {
        var original = button.textContent;
        button.textContent = done;
        setTimeout(function () { button.textContent = original; }, 2000);
      }
    });
  });

  // Copy buttons outside a revealed key (a hand-over link, a passphrase shown once) are marked
  // data-copy-offer: offered only where the clipboard can be written.
  document.addEventListener("DOMContentLoaded", function () {
    if (!navigator.clipboard) return;
    document.querySelectorAll("[data-copy-offer]").forEach(function (n) { n.hidden = false; });
  });

  // Elements marked data-hide-after="N" (a revealed key) are wiped from the page after N seconds.
  // The page promises that (data-hide-notice) and offers Copy only once this script runs: what
  // it says without JavaScript (data-stay-notice) goes.
  function scheduleHiding(root) {
    var nodes = root.querySelectorAll ? root.querySelectorAll("[data-hide-after]") : [];
    nodes.forEach(function (node) {
      if (node.dataset.hideScheduled) return;
      node.dataset.hideScheduled = "1";
      node.querySelectorAll("[data-hide-notice]").forEach(function (n) { n.hidden = false; });
      node.querySelectorAll("[data-stay-notice]").forEach(function (n) { n.hidden = true; });
      if (navigator.clipboard) {
        node.querySelectorAll("[data-copy-target]").forEach(function (n) { n.hidden = false; });
      }
      var seconds = parseInt(node.getAttribute("data-hide-after"), 10) || 60;
      var counter = node.querySelector("[data-countdown]");
      var started = Date.now();
      var timer = setInterval(function () {
        var left = Math.max(0, seconds - Math.floor((Date.now() - started) / 1000));
        if (counter) counter.textContent = String(left);
        if (left <= 0) {
          clearInterval(timer);
          var notice = document.createElement("p");
          notice.className = "alert alert-info";
          notice.setAttribute("role", "status");
          notice.textContent = node.getAttribute("data-hidden-label") || "Hidden.";
          node.replaceWith(notice);
        }
      }, 250);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { scheduleHiding(document); });
  document.addEventListener("htmx:afterSettle", function (event) { scheduleHiding(event.target); });

  // An htmx request that fails outright (network down, 5xx) says so instead of doing nothing.
  document.addEventListener("htmx:sendError", function () { showProblem("network"); });
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    // 4xx answers carry their own message in the swapped partial.
    if (status >= 500) showProblem("server");
  });
  function showProblem(kind) {
    var box = document.getElementById("global-problem");
    if (!box) return;
    box.textContent = box.getAttribute(kind === "network" ? "data-network" : "data-server");
    box.hidden = false;
  }
})();

// Buttons marked data-download-target save the text of that element as a file, in the browser:
// the key was already fetched (and audited) once; downloading it must not fetch it again.
// (Without JavaScript the button submits its form: the server's audited key download.)
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("[data-download-target]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-download-target"));
  if (!source) return;
  event.preventDefault();
  var blob = new Blob([source.textContent.trim() + "\n"], { type: "application/x-pem-file" });
  var link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  // The server names the file, exactly as its own download of the key would.
  link.download = button.getAttribute("data-download-name");
  document.body.appendChild(link);
  link.click();
  setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 0);
});

// Filter panels (<details data-open-on-wide open>) stay open on wide screens and fold away on
// narrow ones, so the results come first on a phone; one with errors to correct stays open.
(function () {
  "use strict";
  var narrow = window.matchMedia("(max-width: 48rem)");
  function fold(root) {
    if (!narrow.matches || !root.querySelectorAll) return;
    root.querySelectorAll("details[data-open-on-wide]:not([data-keep-open])").forEach(function (panel) {
      panel.open = false;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { fold(document); });
  document.addEventListener("htmx:afterSettle", function () { fold(document); });
})();

// The key form (templates/devices/reveal.html): a download the server has accepted over htmx
// (it answers 204 with this event) is posted again natively, so the browser saves the file;
// then the passphrases leave the page and "who has seen this key" is refreshed once the
// download has had time to be recorded.
document.addEventListener("key-download-ready", function (event) {
  var form = event.target.closest ? event.target.closest("form[data-key-form]") : null;
  if (!form) return;
  form.submit();
  form.querySelectorAll("input[type=password]").forEach(function (input) { input.value = ""; });
  [1500, 5000].forEach(function (delay) {
    setTimeout(function () { document.body.dispatchEvent(new Event("key-seen-changed")); }, delay);
  });
});
