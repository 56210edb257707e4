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
  if (msg && !window.confirm(msg)) { ev.preventDefault(); }
});
