// Console data and runs: upload a file with a preview of how its columns are read, the ingest
// history, the runs and their differences, and an analysis started and followed (admin).
(function () {
  "use strict";
  var V = window.V5G, C = V.C, T = V.T, esc = V.esc;
  var app = document.getElementById("app");
  function time(v) { return esc(String(v || "").replace("T", " ").slice(0, 16)); }
  app.innerHTML =
    '<section class="panel"><h2>' + esc(T.upload_title) + " <small>" + esc(T.needs_auditor) + "</small></h2>" +
    '<form id="upload" class="filters">' +
    "<label>" + esc(T.kind) + ' <select name="kind">' + ["villages", "stations", "measurements", "mr"].map(function (k) {
      return '<option value="' + k + '">' + esc(T["kind_" + k]) + "</option>";
    }).join("") + "</select></label>" +
    // the fill-in workbook of the chosen kind (GET /ingest/{kind}/template), following the select
    '<a id="template" href="/ingest/villages/template" download>' + esc(T.template_link) + "</a>" +
    '<label><input type="file" name="file" accept=".csv,.txt,.xlsx,.xls,.parquet,.gpkg,.geojson,.json,.zip,.shp,.kml"></label>' +
    "<label>" + esc(T.crs_label) + ' <input name="crs" size="10" placeholder="EPSG:4326"></label>' +
    "<label>" + esc(T.encoding_label) + ' <input name="encoding" size="6" placeholder="GBK"></label>' +
    "<label>" + esc(T.map_label) + ' <input name="map" size="18"></label>' +
    "<label>" + esc(T.set_label) + ' <input name="set" size="18"></label>' +
    '<label><input type="checkbox" name="three_sectors"> ' + esc(T.three_sectors) + "</label>" +
    '<button type="button" id="dry">' + esc(T.preview) + '</button> <button type="button" id="ingest">' + esc(T.ingest_now) + "</button>" +
    '</form><div id="preview-out"></div></section>' +
    '<section class="panel"><h2>' + esc(T.runs_title) + ' <button type="button" id="start">' + esc(T.start_run) + '</button> <span id="job"></span></h2>' +
    '<div id="runs"></div><div id="diff"></div></section>' +
    '<section class="panel"><h2>' + esc(T.ingests_title) + '</h2><div id="ingests"></div></section>';

  var form = document.getElementById("upload"), out = document.getElementById("preview-out");
  form.elements.kind.addEventListener("change", function () {
    document.getElementById("template").href = "/ingest/" + form.elements.kind.value + "/template";
  });
  function formData() {
    var f = form.elements, data = new FormData();
    if (!f.file.files.length) { return null; }
    data.append("file", f.file.files[0]);
    ["crs", "encoding", "map", "set"].forEach(function (k) { if (f[k].value.trim()) { data.append(k, f[k].value.trim()); } });
    if (f.three_sectors.checked) { data.append("three_sectors", "true"); }
    return data;
  }
  function columnsTable(p) {
    return '<table class="data"><thead><tr><th>' + esc(T.file) + "</th><th>" + esc(T.column) + "</th><th>" + esc(T.how) + "</th><th>" +
      esc(T.unit) + "</th><th>" + esc(T.note) + "</th><th>" + esc(T.samples_conv) + "</th></tr></thead><tbody>" +
      p.columns.map(function (c) {
        return "<tr><td>" + esc(c.header) + "</td><td>" + esc(c.column || "–") + "</td><td>" + esc(c.how) + "</td><td>" + esc(c.unit || "") +
          "</td><td>" + esc(c.note || "") + "</td><td>" + c.samples.slice(0, 3).map(function (s) { return esc(s[0]) + " → " + esc(s[1]); }).join("<br>") + "</td></tr>";
      }).join("") + "</tbody></table>";
  }
  document.getElementById("dry").addEventListener("click", function () {
    var data = formData(), kind = form.elements.kind.value;
    if (!data) { out.innerHTML = '<div class="error">' + esc(T.choose_file) + "</div>"; return; }
    if (kind === "mr") { out.innerHTML = '<div class="sub">MR: ' + esc(T.ingest_now) + "</div>"; return; }
    out.textContent = T.loading;
    V.post("/ingest/" + kind + "/dry-run", data).then(function (r) {
      if (!r.ok) { out.innerHTML = V.problems(r.body); return; }
      var p = r.body;
      out.innerHTML = (p.accepted ? '<div class="ok">' + esc(T.accepted.replace("{n}", V.num(p.rows))) + "</div>"
                                  : '<div class="error">' + esc(T.rejected) + "</div>") + columnsTable(p) + V.problemTable(p.problems || []);
    });
  });
  document.getElementById("ingest").addEventListener("click", function () {
    var data = formData(), kind = form.elements.kind.value;
    if (!data) { out.innerHTML = '<div class="error">' + esc(T.choose_file) + "</div>"; return; }
    out.textContent = T.loading;
    V.post("/ingest/" + kind, data).then(function (r) {
      if (!r.ok) { out.innerHTML = V.problems(r.body); return; }
      out.innerHTML = '<div class="ok">' + esc(T.stored.replace("{n}", V.num(r.body.rows))) + "</div>" +
        V.problemTable(r.body.warnings || []);
      ingests();
    });
  });

  function ingests() {
    V.api("/ingests", { limit: 30 }).then(function (h) {
      document.getElementById("ingests").innerHTML = '<table class="data"><thead><tr><th>#</th><th>' + esc(T.kind) + "</th><th>" +
        esc(T.file) + '</th><th class="num">' + esc(T.row) + "</th><th>" + esc(T.mode) + '</th><th class="num">' + esc(T.warnings) +
        "</th><th>" + esc(T.created) + "</th></tr></thead><tbody>" + h.ingests.map(function (i) {
          return "<tr><td>" + i.id + "</td><td>" + esc(T["kind_" + i.kind] || i.kind) + "</td><td>" + esc(i.file_name) + '</td><td class="num">' +
            V.num(i.rows) + "</td><td>" + esc(V.word("mode_", i.mode)) + '</td><td class="num">' + V.num(i.warnings) + "</td><td>" + time(i.created_at) + "</td></tr>";
        }).join("") + "</tbody></table>";
    }).catch(function (e) { V.error(document.getElementById("ingests"), e); });
  }

  function diff(run, against) {
    var box = document.getElementById("diff");
    box.textContent = T.loading;
    V.api("/runs/" + run + "/diff", { against: against, level: "city" }).then(function (d) {
      box.innerHTML = "<h2>" + esc(T.run_label) + " " + d.against + " → " + d.run_id + '</h2><div class="sub">' + esc(T.newly_flagged) + " " +
        V.num(d.counts.flagged || 0) + " · " + esc(T.cleared) + " " + V.num(d.counts.cleared || 0) + '</div><table class="data"><thead><tr><th>' +
        esc(T.city) + '</th><th class="num">' + esc(T.reach) + " " + d.against + '</th><th class="num">' + esc(T.reach) + " " + d.run_id +
        '</th><th class="num">±</th></tr></thead><tbody>' + d.regions.map(function (r) {
          return "<tr><td>" + esc(r.name) + '</td><td class="num">' + V.pct(r.reach_rate_before) + '</td><td class="num">' + V.pct(r.reach_rate_after) +
            '</td><td class="num">' + (r.change == null ? "–" : (r.change >= 0 ? "+" : "") + (100 * r.change).toFixed(1)) + "</td></tr>";
        }).join("") + "</tbody></table>";
    }).catch(function (e) { V.error(box, e); });
  }
  function runs() {
    V.api("/runs", { limit: 20 }).then(function (r) {
      var published = r.runs.filter(function (x) { return x.status === "published"; });
      document.getElementById("runs").innerHTML = '<table class="data"><thead><tr><th>#</th><th>' + esc(T.state) + "</th><th>" + esc(T.created) +
        "</th><th>" + esc(T.finished) + "</th><th>" + esc(T.rules) + '</th><th class="num">' + esc(T.villages_count) + '</th><th class="num">' +
        esc(T.reach) + "</th><th></th></tr></thead><tbody>" + r.runs.map(function (x) {
          var before = published.filter(function (y) { return y.id < x.id; })[0];
          return "<tr><td>" + x.id + "</td><td>" + esc(V.word("status_", x.status)) + "</td><td>" + time(x.started_at) + "</td><td>" + time(x.finished_at) + "</td><td>" +
            esc(x.rules.name + "@" + x.rules.version) + '</td><td class="num">' + V.num((x.counts || {}).villages) + '</td><td class="num">' +
            V.pct(x.reach_rate) + "</td><td>" + (x.status === "published" && before ? '<button type="button" data-diff="' + x.id + '" data-against="' +
            before.id + '">' + esc(T.compare) + "</button>" : "") + "</td></tr>";
        }).join("") + "</tbody></table>";
      document.querySelectorAll("button[data-diff]").forEach(function (b) {
        b.addEventListener("click", function () { diff(b.getAttribute("data-diff"), b.getAttribute("data-against")); });
      });
    }).catch(function (e) { V.error(document.getElementById("runs"), e); });
  }

  // an analysis started here is followed until it ends
  var jobBox = document.getElementById("job");
  function follow(id) {
    V.api("/jobs/" + id, {}).then(function (j) {
      jobBox.textContent = "#" + j.id + " " + V.word("status_", j.status) + (j.progress ? " · " + j.progress : "") + (j.error ? " · " + j.error : "");
      if (j.status === "queued" || j.status === "running") { setTimeout(function () { follow(id); }, 2000); }
      else { runs(); }
    }).catch(function (e) { jobBox.textContent = e.message; });
  }
  document.getElementById("start").addEventListener("click", function () {
    V.post("/runs", {}).then(function (r) {
      if (!r.ok) { jobBox.textContent = (V.message(r.body) || T.failed) + (r.status === 401 || r.status === 403 ? " · " + T.needs_admin : ""); return; }
      follow(r.body.id);
    });
  });
  runs();
  ingests();
})();
