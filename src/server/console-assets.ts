/**
 * @module The console's stylesheet and script, shipped inside the bundle (no CDN, no build
 * step). The script only enhances: countdowns to approval expiry, a confirmation before cancel
 * or rollback naming what will be undone, and a reload of the page's live region when the
 * ledger moves (SSE on `/api/v1/events`, authenticated by the session cookie). Pages work
 * without it.
 */

import { EventType } from "../engine/events.js";

export const CONSOLE_CSS = `
:root { --fg:#111; --bg:#fff; --muted:#555; --ok:#0a6b2d; --bad:#a4161a; --line:#ccc; --accent:#0b4f8a; }
* { box-sizing: border-box; }
body { margin:0; font:16px/1.5 system-ui, sans-serif; color:var(--fg); background:var(--bg); }
header { display:flex; flex-wrap:wrap; gap:.75rem; align-items:center; padding:.5rem 1rem; border-bottom:1px solid var(--line); }
nav { display:flex; flex-wrap:wrap; gap:.75rem; align-items:center; }
nav a { color:var(--accent); }
.who { color:var(--muted); }
main { padding:1rem; max-width:60rem; margin:0 auto; }
h1 small, h2 small, h3 small { color:var(--muted); font-weight:normal; font-size:.8em; }
.card { border:1px solid var(--line); border-radius:6px; padding:1rem; margin:1rem 0; }
dl { display:grid; grid-template-columns:max-content 1fr; gap:.25rem 1rem; }
dt { font-weight:600; } dd { margin:0; overflow-wrap:anywhere; }
pre { background:#f4f4f4; padding:.5rem; overflow-x:auto; white-space:pre-wrap; overflow-wrap:anywhere; }
.diff .dadd { color:var(--ok); display:block; } .diff .ddel { color:var(--bad); display:block; } .diff .dsame { display:block; }
label { display:block; margin:.5rem 0 .25rem; font-weight:600; }
input, select, button { font:inherit; padding:.5rem .75rem; min-height:44px; }
input[type=password], .decide input { width:100%; }
button { cursor:pointer; border:1px solid var(--fg); border-radius:4px; background:#eee; }
button.approve { background:var(--ok); color:#fff; border-color:var(--ok); }
button.reject { background:var(--bad); color:#fff; border-color:var(--bad); }
button:focus-visible, a:focus-visible, input:focus-visible { outline:3px solid var(--accent); outline-offset:2px; }
.buttons { display:flex; gap:.5rem; margin-top:.5rem; flex-wrap:wrap; }
.inline { display:inline; }
.error { color:var(--bad); }
.verdict.ok { color:var(--ok); font-weight:700; } .verdict.bad { color:var(--bad); font-weight:700; }
.status { font-weight:700; } .COMPLETED { color:var(--ok); } .ROLLED_BACK, .FAILED { color:var(--bad); }
.scroll { overflow-x:auto; } table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:.25rem .5rem; border-bottom:1px solid var(--line); }
.filters { display:flex; flex-wrap:wrap; gap:.5rem; align-items:end; }
.filters label { margin:0; }
.actions { display:flex; flex-wrap:wrap; gap:.75rem; align-items:center; }
.hash { font-size:.85em; }
`;

export const CONSOLE_JS = `
(function () {
  function tick() {
    document.querySelectorAll("time.countdown").forEach(function (t) {
      var left = Math.round((Date.parse(t.getAttribute("datetime")) - Date.now()) / 1000);
      t.textContent = left > 0 ? "in " + Math.floor(left / 60) + " min " + (left % 60) + " s" : "expired";
    });
  }
  tick(); setInterval(tick, 1000);
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) { if (!confirm(f.getAttribute("data-confirm"))) e.preventDefault(); });
  });
  var live = document.querySelector("[data-live]");
  if (!live || !window.EventSource) return;
  var scope = live.getAttribute("data-live");
  var url = "/api/v1/events" + (scope === "all" ? "" : "?run_id=" + encodeURIComponent(scope));
  var es = new EventSource(url);
  var pending = null;
  function refresh() {
    pending = null;
    if (document.activeElement && document.activeElement.tagName === "INPUT" && document.activeElement.value) return;
    fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var next = doc.querySelector("[data-live]");
      if (next) { live.innerHTML = next.innerHTML; tick(); }
    });
  }
  var types = ${JSON.stringify(Object.values(EventType))};
  types.forEach(function (t) { es.addEventListener(t, function () { if (!pending) pending = setTimeout(refresh, 150); }); });
})();
`;
