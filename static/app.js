// Tollgate pages: a few lines of vanilla JS (copy buttons, dialogs, live refresh).
document.addEventListener("click", function (ev) {
  var copy = ev.target.closest("[data-copy]");
  if (copy) {
    var text = document.getElementById(copy.getAttribute("data-copy")).textContent.trim();
    var done = function () { copy.textContent = copy.getAttribute("data-copied") || "✓"; };
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done, done); }
    else { var r = document.createRange(); r.selectNodeContents(document.getElementById(copy.getAttribute("data-copy"))); var s = window.getSelection(); s.removeAllRanges(); s.addRange(r); try { document.execCommand("copy"); } catch (e) {} done(); }
  }
  var open = ev.target.closest("[data-open]");
  if (open) { var d = document.getElementById(open.getAttribute("data-open")); if (d && d.showModal) { d.showModal(); } }
  var close = ev.target.closest("[data-close]");
  if (close) { var c = close.closest("dialog"); if (c) { c.close(); } }
});
document.addEventListener("submit", function (ev) {
  var msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) { ev.preventDefault(); return; }
  // A download form in a dialog: let the browser fetch the file, then close the dialog.
  if (ev.target.hasAttribute("data-download")) {
    var dlg = ev.target.closest("dialog");
    if (dlg) { setTimeout(function () { dlg.close(); }, 0); }
  }
});
// Date-range presets fill the from/to fields; typing a date switches to "custom".
document.addEventListener("change", function (ev) {
  var form = ev.target.form;
  if (!form) { return; }
  if (ev.target.hasAttribute("data-preset")) {
    var opt = ev.target.selectedOptions[0];
    if (opt && opt.getAttribute("data-start")) {
      form.elements.start_date.value = opt.getAttribute("data-start");
      form.elements.end_date.value = opt.getAttribute("data-end");
    }
  } else if (ev.target.name === "start_date" || ev.target.name === "end_date") {
    var preset = form.querySelector("[data-preset]");
    if (preset) { preset.value = "custom"; }
  }
});
// Live view: refresh the totals every 5 seconds without reloading the page; when they
// change, also swap in fresh copies of the tables and the chart ([data-live-block]).
(function () {
  var box = document.querySelector("[data-live-url]");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-live-url");
  var refreshBlocks = function () {
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live-block]").forEach(function (el) {
          var name = el.getAttribute("data-live-block");
          var fresh = doc.querySelector('[data-live-block="' + name + '"]');
          if (fresh) { el.replaceWith(document.importNode(fresh, true)); }
        });
      })
      .catch(function () {});
  };
  setInterval(function () {
    fetch(url, { credentials: "same-origin", headers: { "accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || !data.display) { return; }
        var changed = false;
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var v = data.display[el.getAttribute("data-live")];
          if (v !== undefined && String(v) !== el.textContent) { el.textContent = v; changed = true; }
        });
        if (changed) { refreshBlocks(); }
      })
      .catch(function () {});
  }, 5000);
})();
