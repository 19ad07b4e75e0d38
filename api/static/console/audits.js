// Console audits: the rounds with their sample and progress, the lists to download, the map, and a
// round's report (stratified pass rates with their intervals, drawn as bars).
(function () {
  "use strict";
  var V = window.V5G, C = V.C, T = V.T, esc = V.esc;
  var app = document.getElementById("app");
  app.innerHTML = '<section class="panel"><h2>' + esc(T.rounds) + '</h2><div id="rounds"></div></section>' +
    '<section class="panel" id="report-panel" hidden><h2 id="report-title"></h2><div id="report"></div></section>';
  function download(path, params, fallback) {
    fetch(path + V.query(params), { headers: V.headers() }).then(function (r) {
      if (!r.ok) { return r.json().then(function (body) { throw new Error(body.message); }); }
      var disposition = r.headers.get("content-disposition") || "";
      var match = /filename\*=utf-8''([^;]+)|filename="?([^";]+)"?/i.exec(disposition);
      var name = match ? decodeURIComponent(match[1] || match[2]) : fallback;
      return r.blob().then(function (blob) {
        var a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = name;
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      });
    }).catch(function (e) { window.alert(e.message); });
  }
  function bar(rate, low, high) {
    if (rate == null) { return ""; }
    return '<span class="bar-track"><span class="bar-fill" style="width:' + (100 * rate).toFixed(1) + '%"></span>' +
      (low != null ? '<span class="bar-ci" style="left:' + (100 * low).toFixed(1) + "%;width:" + (100 * (high - low)).toFixed(1) + '%"></span>' : "") + "</span>";
  }
  function report(n) {
    var panel = document.getElementById("report-panel"), box = document.getElementById("report");
    panel.hidden = false;
    document.getElementById("report-title").textContent = T.report + " · " + T.round + " " + n;
    box.textContent = T.loading;
    V.api("/audits/" + n + "/report", {}).then(function (r) {
      var o = r.overall;
      box.innerHTML = '<div class="cards"><div class="card big"><div class="label">' + esc(T.pass_rate) + '</div><div class="value">' +
        V.pct(o.pass_rate) + '</div><div class="sub">' + (o.low == null ? "" : esc(T.interval) + " " + V.pct(o.low) + "–" + V.pct(o.high) + " · ") +
        esc(T.tested) + " " + V.num(o.tested) + " · " + esc(T.passed) + " " + V.num(o.passed) + "</div></div></div>" +
        '<table class="data"><thead><tr><th>' + esc(T.city) + "</th><th>" + esc(T.verdict) + '</th><th class="num">' + esc(T.sample) +
        '</th><th class="num">' + esc(T.tested) + '</th><th class="num">' + esc(T.passed) + '</th><th class="num">' + esc(T.pass_rate) +
        "</th><th>" + esc(T.interval) + "</th></tr></thead><tbody>" + r.strata.map(function (s) {
          return "<tr><td>" + esc(s.city_name || s.stratum) + "</td><td>" + esc(s.verdict ? V.verdict(s.verdict) : "") + '</td><td class="num">' +
            V.num(s.sample) + '</td><td class="num">' + V.num(s.tested) + '</td><td class="num">' + V.num(s.passed) + '</td><td class="num">' +
            V.pct(s.pass_rate) + "</td><td>" + (s.low == null ? "–" : bar(s.pass_rate, s.low, s.high) + " " + V.pct(s.low) + "–" + V.pct(s.high)) + "</td></tr>";
        }).join("") + "</tbody></table>";
    }).catch(function (e) { V.error(box, e); });
  }
  V.api("/audits", {}).then(function (a) {
    var box = document.getElementById("rounds");
    if (!a.rounds.length) { box.textContent = T.none_found; return; }
    box.innerHTML = '<table class="data"><thead><tr><th>' + esc(T.round) + "</th><th>" + esc(T.created) + "</th><th>" + esc(T.run_label) +
      '</th><th class="num">' + esc(T.sample) + '</th><th class="num">' + esc(T.tested) + "</th><th>" + esc(T.lists) + "</th><th>" +
      esc(T.report) + "</th></tr></thead><tbody>" + a.rounds.map(function (r) {
        return "<tr><td>" + r.round + "</td><td>" + esc(String(r.created_at || "").replace("T", " ").slice(0, 16)) + "</td><td>" +
          esc(r.run_id || "") + '</td><td class="num">' + V.num(r.villages) + " + " + V.num(r.reserves) + '</td><td class="num">' +
          V.num(r.tested_villages) + '</td><td><button type="button" data-list="' + r.round + '" data-format="xlsx">XLSX</button> ' +
          '<button type="button" data-list="' + r.round + '" data-format="csv">CSV</button> ' +
          '<a href="/maps/audits/' + r.round + '" target="_blank">' + esc(T.nav_map) + '</a></td><td><button type="button" data-report="' +
          r.round + '">' + esc(T.report) + "</button></td></tr>";
      }).join("") + "</tbody></table>";
    box.querySelectorAll("button[data-list]").forEach(function (b) {
      b.addEventListener("click", function () {
        var n = b.getAttribute("data-list"), fmt = b.getAttribute("data-format");
        download("/audits/" + n + "/villages", { format: fmt, lang: C.lang }, "audit_" + n + "." + fmt);
      });
    });
    box.querySelectorAll("button[data-report]").forEach(function (b) {
      b.addEventListener("click", function () { report(b.getAttribute("data-report")); });
    });
  }).catch(function (e) { V.error(document.getElementById("rounds"), e); });
})();
