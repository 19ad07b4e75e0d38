// Console dashboard: 通达率 with its interval and gap to target, the trend, regions, changes, jobs.
(function () {
  "use strict";
  var V = window.V5G, C = V.C, T = V.T, esc = V.esc;
  var app = document.getElementById("app");
  if (!C.run) { app.innerHTML = '<div class="empty">' + esc(T.no_runs) + "</div>"; return; }
  app.innerHTML =
    '<section class="cards" id="cards"></section>' +
    '<section class="grid"><div class="panel"><h2>' + esc(T.trend) + '</h2><div id="trend"></div></div>' +
    '<div class="panel"><h2>' + esc(T.changes) + '</h2><div id="changes"></div></div></section>' +
    '<section class="panel"><h2><span id="level-title"></span> <select id="level"><option value="city">' +
    esc(T.by_city) + '</option><option value="county">' + esc(T.by_county) + '</option></select>' +
    ' <small>' + esc(T.nav_hint) + '</small></h2><div id="regions"></div></section>' +
    '<section class="panel"><h2>' + esc(T.jobs) + '</h2><div id="jobs"></div></section>';

  function cards(s) {
    var t = s.totals;
    var gap = t.gap_villages;
    document.getElementById("cards").innerHTML =
      '<div class="card big"><div class="label">' + esc(T.reach) + (C.region ? " · " + esc(C.region) : "") +
      " · " + esc(T.run_label) + " " + s.run_id + '</div><div class="value">' + V.pct(t.reach_rate) + "</div>" +
      '<div class="sub">' + esc(T.expected) + " " + V.pct(t.expected_rate) + "（" + esc(T.interval) + " " +
      V.pct(t.rate_low) + "–" + V.pct(t.rate_high) + "）</div></div>" +
      '<div class="card"><div class="label">' + esc(T.target) + '</div><div class="value">' + V.pct(t.target_rate, 0) +
      '</div><div class="sub">' + esc(T.gap) + " " + V.num(gap) + " " + (C.lang === "zh" ? "个村" : "villages") + "</div></div>" +
      ["covered", "weak", "uncovered", "no_site"].map(function (k) {
        var value = k === "no_site" ? t.no_site : t[k];
        return '<div class="card"><div class="label">' + V.swatch(k) + esc(C.classes[k][C.lang]) +
          '</div><div class="value">' + V.num(value) + '</div><div class="sub">' + V.pct(value / t.villages) + "</div></div>";
      }).join("") +
      '<div class="card"><div class="label">' + esc(T.villages_count) + '</div><div class="value">' + V.num(t.villages) + "</div></div>";
  }

  function regions(level) {
    var box = document.getElementById("regions");
    V.api("/summary", { level: level, run: C.run }).then(function (s) {
      if (level === "city") { cards(s); }
      box.innerHTML = '<table class="data"><thead><tr><th>' + esc(T.code) + "</th><th>" + esc(T.name) + '</th><th class="num">' +
        esc(T.villages_count) + '</th><th class="num">' + esc(C.classes.covered[C.lang]) + '</th><th class="num">' +
        esc(C.classes.weak[C.lang]) + '</th><th class="num">' + esc(C.classes.uncovered[C.lang]) + '</th><th class="num">' +
        esc(C.classes.no_site[C.lang]) + '</th><th class="num">' + esc(T.reach) + '</th><th class="num">' + esc(T.expected) +
        '</th><th class="num">' + esc(T.gap) + "</th></tr></thead><tbody></tbody></table>";
      var rows = s.regions.map(function (r) {
        var param = level === "city" ? { city: r.code } : { county: r.code };
        return [[esc(r.code), r.code], ['<a href="' + esc(V.link("/console/villages", param)) + '">' + esc(r.name) + "</a>", r.name],
          [V.num(r.villages), r.villages], [V.num(r.covered), r.covered], [V.num(r.weak), r.weak],
          [V.num(r.uncovered), r.uncovered], [V.num(r.no_site), r.no_site],
          ['<span class="rate' + (r.reach_rate >= r.target_rate ? " ok" : "") + '">' + V.pct(r.reach_rate) + "</span>", r.reach_rate],
          [V.pct(r.expected_rate), r.expected_rate], [V.num(r.gap_villages), r.gap_villages]];
      });
      V.sortable(box.querySelector("table"), rows, function (row) {
        return "<tr>" + row.map(function (c, i) { return "<td" + (i > 1 ? ' class="num"' : "") + ">" + c[0] + "</td>"; }).join("") + "</tr>";
      });
    }).catch(function (e) { V.error(box, e); });
  }
  var select = document.getElementById("level");
  select.addEventListener("change", function () { regions(select.value); });
  regions("city");

  // the trend of the province (or the key's region) over runs, with the target, as an SVG line
  V.api("/summary/history", {}).then(function (h) {
    var box = document.getElementById("trend");
    var pts = (h.series || []).filter(function (p) { return p.reach_rate != null; });
    if (!pts.length) { box.textContent = T.none_found; return; }
    var w = 520, hgt = 200, pad = 36;
    var lo = Math.min(C.targetRate, Math.min.apply(null, pts.map(function (p) { return p.reach_rate; }))) - 0.02;
    var hi = Math.max(C.targetRate, Math.max.apply(null, pts.map(function (p) { return p.reach_rate; }))) + 0.02;
    function x(i) { return pad + (pts.length === 1 ? (w - 2 * pad) / 2 : i * (w - 2 * pad) / (pts.length - 1)); }
    function y(v) { return hgt - pad + (pad * 2 - hgt) * (v - lo) / (hi - lo); }
    var line = pts.map(function (p, i) { return (i ? "L" : "M") + x(i).toFixed(1) + "," + y(p.reach_rate).toFixed(1); }).join("");
    var dots = pts.map(function (p, i) {
      return '<circle cx="' + x(i).toFixed(1) + '" cy="' + y(p.reach_rate).toFixed(1) + '" r="3.5"><title>' +
        esc(T.run_label + " " + p.run_id + " · " + String(p.finished_at || "").slice(0, 10) + " · " + V.pct(p.reach_rate)) + "</title></circle>";
    }).join("");
    var labels = pts.map(function (p, i) {
      return '<text x="' + x(i).toFixed(1) + '" y="' + (hgt - 12) + '" text-anchor="middle">' + esc(String(p.finished_at || "").slice(5, 10)) + "</text>";
    }).join("");
    box.innerHTML = '<svg class="chart" viewBox="0 0 ' + w + " " + hgt + '" role="img" aria-label="' + esc(T.trend) + '">' +
      '<line class="target" x1="' + pad + '" x2="' + (w - pad) + '" y1="' + y(C.targetRate) + '" y2="' + y(C.targetRate) + '"/>' +
      '<text x="' + (w - pad) + '" y="' + (y(C.targetRate) - 4) + '" text-anchor="end">' + esc(T.target) + " " + V.pct(C.targetRate, 0) + "</text>" +
      '<text x="4" y="' + (y(hi) + 10) + '">' + V.pct(hi, 0) + '</text><text x="4" y="' + y(lo) + '">' + V.pct(lo, 0) + "</text>" +
      '<path d="' + line + '"/>' + dots + labels + "</svg>";
  }).catch(function (e) { V.error(document.getElementById("trend"), e); });

  // what changed since the previous published run
  V.api("/runs", { limit: 50 }).then(function (r) {
    var box = document.getElementById("changes");
    var earlier = r.runs.filter(function (x) { return x.status === "published" && x.id < C.run; });
    if (!earlier.length) { box.textContent = T.none_found; return null; }
    return V.api("/runs/" + C.run + "/diff", { against: earlier[0].id, level: "city" }).then(function (d) {
      var changed = d.villages.slice(0, 12).map(function (v) {
        return "<tr><td>" + esc(v.change === "flagged" ? T.newly_flagged : v.change === "cleared" ? T.cleared : v.change) +
          '</td><td><a href="' + esc(V.link("/console/villages/" + v.code)) + '">' + esc(v.name) + "</a></td><td>" +
          esc(v.county_name) + "</td><td>" + esc(V.verdict(v.before_verdict)) + " → " + esc(V.verdict(v.after_verdict)) + "</td></tr>";
      }).join("");
      box.innerHTML = '<div class="sub">' + esc(T.run_label) + " " + d.against + " → " + d.run_id + "：" +
        esc(T.newly_flagged) + " " + V.num(d.counts.flagged || 0) + "，" + esc(T.cleared) + " " + V.num(d.counts.cleared || 0) +
        '</div><table class="data">' + changed + "</table>";
    });
  }).catch(function (e) { V.error(document.getElementById("changes"), e); });

  V.api("/jobs", { limit: 6 }).then(function (j) {
    var box = document.getElementById("jobs");
    if (!j.jobs.length) { box.textContent = T.none_found; return; }
    box.innerHTML = '<table class="data"><thead><tr><th>#</th><th>' + esc(T.kind) + "</th><th>" + esc(T.state) + "</th><th>" +
      esc(T.created) + "</th><th>" + esc(T.finished) + "</th><th>" + esc(T.run_label) + "</th></tr></thead><tbody>" +
      j.jobs.map(function (x) {
        return "<tr><td>" + x.id + "</td><td>" + esc(V.word("kind_", x.kind)) + "</td><td>" + esc(V.word("status_", x.status)) + "</td><td>" +
          esc(String(x.created_at || "").replace("T", " ").slice(0, 16)) + "</td><td>" +
          esc(String(x.finished_at || "").replace("T", " ").slice(0, 16)) + "</td><td>" + esc(x.run_id || "") + "</td></tr>";
      }).join("") + "</tbody></table>";
  }).catch(function (e) { V.error(document.getElementById("jobs"), e); });
})();
