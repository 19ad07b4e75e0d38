// Console audits: the rounds with their sample and progress, the lists to download, the map, the upload
// of a round's field results beside the form to record them on (the field-test template), and a round's
// report (stratified pass rates with their intervals, drawn as bars).
(function () {
  "use strict";
  var V = window.V5G, C = V.C, T = V.T, esc = V.esc;
  var app = document.getElementById("app");
  app.innerHTML = '<section class="panel"><h2>' + esc(T.draw) + ' <small>' + esc(T.needs_auditor) + "</small></h2>" +
    '<form id="draw" class="filters">' +
    "<label>" + esc(T.strata) + ' <select name="strata"><option value="city">' + esc(T.strata_city) + '</option><option value="city-verdict">' +
    esc(T.strata_city_verdict) + "</option></select></label>" +
    "<label>" + esc(T.population_label) + ' <select name="population"><option value="all">' + esc(T.all) + "</option>" +
    ["covered", "weak", "uncovered"].map(function (k) { return '<option value="' + k + '">' + esc(V.verdict(k)) + "</option>"; }).join("") +
    "</select></label>" +
    "<label>" + esc(T.confidence_level) + ' <select name="confidence"><option value="0.9">90%</option><option value="0.95" selected>95%</option>' +
    '<option value="0.99">99%</option></select></label>' +
    "<label>" + esc(T.margin) + ' <input name="margin" type="number" min="1" max="50" step="0.5" value="5"> %</label>' +
    "<label>" + esc(T.expected_pass) + ' <input name="expected_pass" type="number" min="0" max="100" step="1" value="90"> %</label>' +
    "<label>" + esc(T.uncertain) + ' <input name="uncertain" type="number" min="0" max="10000" step="1" value="0"></label>' +
    "<label>" + esc(T.uncertain_from) + ' <select name="uncertain_from"><option value="all">' + esc(T.uncertain_from_all) +
    '</option><option value="flagged">' + esc(T.uncertain_from_flagged) + "</option></select></label>" +
    "<label>" + esc(T.seed) + ' <input name="seed" type="number" min="0" step="1"></label>' +
    '<button type="button" id="preview">' + esc(T.preview) + '</button> <button type="button" id="confirm" disabled>' + esc(T.confirm) + "</button>" +
    '</form><div id="plan"></div></section>' +
    '<section class="panel"><h2>' + esc(T.rounds) + '</h2><div id="rounds"></div></section>' +
    '<section class="panel" id="report-panel" hidden><h2 id="report-title"></h2><div id="report"></div></section>';
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
      // the verdict column only when the round was stratified by city x verdict
      var byVerdict = r.strata.some(function (s) { return s.verdict; });
      box.innerHTML = '<div class="cards"><div class="card big"><div class="label">' + esc(T.pass_rate) + '</div><div class="value">' +
        V.pct(o.pass_rate) + '</div><div class="sub">' + (o.low == null ? "" : esc(T.interval) + " " + V.pct(o.low) + "–" + V.pct(o.high) + " · ") +
        esc(T.tested) + " " + V.num(o.tested) + " · " + esc(T.passed) + " " + V.num(o.passed) + "</div></div></div>" +
        '<table class="data"><thead><tr><th>' + esc(T.city) + "</th>" + (byVerdict ? "<th>" + esc(T.verdict) + "</th>" : "") + '<th class="num">' + esc(T.sample) +
        '</th><th class="num">' + esc(T.tested) + '</th><th class="num">' + esc(T.passed) + '</th><th class="num">' + esc(T.pass_rate) +
        "</th><th>" + esc(T.interval) + "</th></tr></thead><tbody>" + r.strata.map(function (s) {
          return "<tr><td>" + esc(s.city_name || s.stratum) + "</td>" + (byVerdict ? "<td>" + esc(s.verdict ? V.verdict(s.verdict) : "") + "</td>" : "") +
            '<td class="num">' + V.num(s.sample) + '</td><td class="num">' + V.num(s.tested) + '</td><td class="num">' + V.num(s.passed) + '</td><td class="num">' +
            V.pct(s.pass_rate) + "</td><td>" + (s.low == null ? "–" : bar(s.pass_rate, s.low, s.high) + " " + V.pct(s.low) + "–" + V.pct(s.high)) + "</td></tr>";
        }).join("") + "</tbody></table>";
    }).catch(function (e) { V.error(box, e); });
  }
  // draw a round: a dry run shows the strata sizes first; the confirmed draw stores the round
  var drawForm = document.getElementById("draw"), plan = document.getElementById("plan");
  var confirm = document.getElementById("confirm");
  function request(dry) {
    var f = drawForm.elements;
    var body = { strata: f.strata.value, population: f.population.value, confidence: Number(f.confidence.value),
                 margin: Number(f.margin.value) / 100, expected_pass: Number(f.expected_pass.value) / 100,
                 uncertain: Number(f.uncertain.value || 0), uncertain_from: f.uncertain_from.value, dry_run: dry };
    if (f.seed.value !== "") { body.seed = Number(f.seed.value); }
    if (C.run) { body.run = C.run; }
    return body;
  }
  // the supplementary villages, with how they were chosen, and a word when fewer were eligible than asked
  function supplement(d) {
    if (!d.plan.uncertain) { return ""; }
    var from = d.plan.uncertain_from === "flagged" ? T.uncertain_from_flagged : T.uncertain_from_all;
    return " + " + esc(T.supplementary) + " " + V.num(d.supplementary) + " · " + esc(T.uncertain_from) + " " + esc(from) +
      (d.supplementary < d.plan.uncertain ? " · " + esc(T.supplementary_short.replace("{asked}", V.num(d.plan.uncertain)).replace("{n}", V.num(d.supplementary))) : "");
  }
  function strataTable(d) {
    return '<div class="sub">' + esc(T.run_label) + " " + esc(d.run_id) + " · " + esc(T.seed_short) + " " + esc(d.seed) + " · " + esc(T.sample) + " " +
      V.num(d.villages - d.supplementary) + " + " + esc(T.reserve) + " " + V.num(d.reserves) + supplement(d) +
      '</div><table class="data"><thead><tr><th>' + esc(T.strata) +
      '</th><th class="num">N</th><th class="num">' + esc(T.eligible) + '</th><th class="num">' + esc(T.required) + '</th><th class="num">' +
      esc(T.sample) + '</th><th class="num">' + esc(T.reserve) + "</th></tr></thead><tbody>" + d.strata.map(function (s) {
        return "<tr><td>" + esc((s.city_name || s.stratum) + (s.verdict ? " · " + V.verdict(s.verdict) : "")) + '</td><td class="num">' +
          V.num(s.population) + '</td><td class="num">' + V.num(s.eligible) + '</td><td class="num">' + V.num(s.required) +
          '</td><td class="num">' + V.num(s.sample) + '</td><td class="num">' + V.num(s.reserve) + "</td></tr>";
      }).join("") + "</tbody></table>";
  }
  drawForm.addEventListener("change", function () { confirm.disabled = true; });
  // the form's fields in percent and counts are checked against their bounds by the browser first (its
  // own message beside the field, in the browser's language): the API's bounds are proportions (0-1)
  document.getElementById("preview").addEventListener("click", function () {
    if (!drawForm.reportValidity()) { return; }
    // the draw repeats the preview exactly: without a seed given, one is chosen here and shown
    if (drawForm.elements.seed.value === "") { drawForm.elements.seed.value = String(Math.floor(Math.random() * 2147483647)); }
    V.post("/audits", request(true)).then(function (r) {
      if (!r.ok) { plan.innerHTML = V.problems(r.body); confirm.disabled = true; return; }
      plan.innerHTML = strataTable(r.body);
      confirm.disabled = false;
    });
  });
  confirm.addEventListener("click", function () {
    if (!drawForm.reportValidity()) { return; }
    confirm.disabled = true;
    var body = request(false);
    V.post("/audits", body).then(function (r) {
      if (!r.ok) { plan.innerHTML = V.problems(r.body); return; }
      plan.innerHTML = '<div class="ok">' + esc(T.drawn.replace("{n}", r.body.round)) + "</div>" + strataTable(r.body);
      rounds();
    });
  });

  function upload(n, input, out) {
    if (!input.files.length) { return; }
    var data = new FormData();
    data.append("file", input.files[0]);
    out.innerHTML = esc(T.loading);
    V.post("/audits/" + n + "/results", data).then(function (r) {
      input.value = "";
      if (!r.ok) { out.innerHTML = V.problems(r.body); return; }
      out.innerHTML = '<div class="ok">' + esc(T.uploaded.replace("{rows}", V.num(r.body.rows)).replace("{n}", V.num(r.body.villages))) + "</div>";
      rounds();
    });
  }

  function rounds() {
  V.api("/audits", {}).then(function (a) {
    var box = document.getElementById("rounds");
    if (!a.rounds.length) { box.textContent = T.none_found; return; }
    box.innerHTML = '<table class="data"><thead><tr><th>' + esc(T.round) + "</th><th>" + esc(T.created) + "</th><th>" + esc(T.run_label) +
      '</th><th class="num">' + esc(T.sample) + '</th><th class="num">' + esc(T.tested) + "</th><th>" + esc(T.lists) + "</th><th>" +
      esc(T.report) + "</th><th></th></tr></thead><tbody>" + a.rounds.map(function (r) {
        return "<tr><td>" + r.round + "</td><td>" + esc(String(r.created_at || "").replace("T", " ").slice(0, 16)) + "</td><td>" +
          esc(r.run_id || "") + '</td><td class="num">' + V.num(r.villages) + " + " + V.num(r.reserves) + '</td><td class="num">' +
          V.num(r.tested_villages) + '</td><td><button type="button" data-list="' + r.round + '" data-format="xlsx">XLSX</button> ' +
          '<button type="button" data-list="' + r.round + '" data-format="csv">CSV</button> ' +
          '<a href="/maps/audits/' + r.round + '" target="_blank">' + esc(T.nav_map) + '</a></td><td><button type="button" data-report="' +
          r.round + '">' + esc(T.report) + '</button></td><td><label class="upload">' + esc(T.upload) + ' <input type="file" data-upload="' +
          r.round + '" accept=".csv,.xlsx,.json"></label> <a class="field-template" href="/ingest/field_tests/template" download>' +
          esc(T.field_template) + '</a></td></tr><tr class="upload-result"><td colspan="8" id="upload-' + r.round + '"></td></tr>';
      }).join("") + "</tbody></table>";
    box.querySelectorAll("input[data-upload]").forEach(function (input) {
      input.addEventListener("change", function () {
        var n = input.getAttribute("data-upload");
        upload(n, input, document.getElementById("upload-" + n));
      });
    });
    box.querySelectorAll("button[data-list]").forEach(function (b) {
      b.addEventListener("click", function () {
        var n = b.getAttribute("data-list"), fmt = b.getAttribute("data-format");
        V.download("/audits/" + n + "/villages", { format: fmt, lang: C.lang }, "audit_" + n + "." + fmt);
      });
    });
    box.querySelectorAll("button[data-report]").forEach(function (b) {
      b.addEventListener("click", function () { report(b.getAttribute("data-report")); });
    });
  }).catch(function (e) { V.error(document.getElementById("rounds"), e); });
  }
  rounds();
})();
