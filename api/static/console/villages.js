// Console village list: filters kept in the address (shareable), a server-sorted paged table, and
// exports of exactly the filtered list.
(function () {
  "use strict";
  var V = window.V5G, C = V.C, T = V.T, esc = V.esc;
  var app = document.getElementById("app");
  var LIMIT = 50;
  var FILTERS = ["city", "county", "status", "no_site", "verdict_source", "p_min", "p_max", "q"];
  var state = {};
  var params = new URLSearchParams(window.location.search);
  FILTERS.concat(["sortby", "offset"]).forEach(function (k) { if (params.get(k)) { state[k] = params.get(k); } });
  if (!C.run) { app.innerHTML = '<div class="empty">' + esc(T.no_runs) + "</div>"; return; }

  function options(values, chosen) {
    return '<option value="">' + esc(T.all) + "</option>" + values.map(function (v) {
      return '<option value="' + esc(v[0]) + '"' + (String(chosen || "") === String(v[0]) ? " selected" : "") + ">" + esc(v[1]) + "</option>";
    }).join("");
  }
  var verdicts = ["covered", "weak", "uncovered"].map(function (k) { return [k, V.verdict(k)]; });
  var sources = ["predicted", "fused", "measured"].map(function (k) { return [k, V.source(k)]; });
  app.innerHTML =
    '<form id="filters" class="filters panel">' +
    "<label>" + esc(T.city) + ' <select name="city"></select></label>' +
    "<label>" + esc(T.county) + ' <select name="county"></select></label>' +
    "<label>" + esc(T.verdict) + ' <select name="status">' + options(verdicts, state.status) + "</select></label>" +
    "<label>" + esc(T.no_site) + ' <select name="no_site">' + options([["true", T.yes], ["false", T.no]], state.no_site) + "</select></label>" +
    "<label>" + esc(T.source) + ' <select name="verdict_source">' + options(sources, state.verdict_source) + "</select></label>" +
    "<label>" + esc(T.p_range) + ' <input name="p_min" type="number" min="0" max="100" step="1" placeholder="0" value="' +
    esc(state.p_min ? Math.round(100 * state.p_min) : "") + '">–<input name="p_max" type="number" min="0" max="100" step="1" placeholder="100" value="' +
    esc(state.p_max ? Math.round(100 * state.p_max) : "") + '"> %</label>' +
    "<label>" + esc(T.search) + ' <input name="q" type="search" value="' + esc(state.q || "") + '"></label>' +
    '<button type="submit">' + esc(T.apply) + '</button> <button type="button" id="reset">' + esc(T.reset) + "</button>" +
    '</form><div class="bar"><span id="count"></span><span class="exports">' + esc(T.export) + "：" +
    ["xlsx", "csv", "kml", "gpkg"].map(function (f) { return '<button type="button" data-format="' + f + '">' + f.toUpperCase() + "</button>"; }).join(" ") +
    '</span></div><div id="list"></div><div class="pager"><button id="prev">' + esc(T.prev) + '</button> <span id="page"></span> <button id="next">' +
    esc(T.next) + "</button></div>";
  var form = document.getElementById("filters");

  // region choices from the run's own summaries (a region-limited key sees its own)
  Promise.all([V.api("/summary", { level: "city", run: C.run }), V.api("/summary", { level: "county", run: C.run })])
    .then(function (both) {
      var cities = both[0].regions.map(function (r) { return [r.code, r.name]; });
      var counties = both[1].regions;
      form.city.innerHTML = options(cities, state.city);
      function fillCounties() {
        var city = form.city.value;
        form.county.innerHTML = options(counties.filter(function (r) { return !city || r.code.indexOf(city) === 0; })
          .map(function (r) { return [r.code, r.name]; }), state.county);
      }
      form.city.addEventListener("change", function () { state.county = ""; fillCounties(); });
      fillCounties();
    }).catch(function (e) { V.error(document.getElementById("count"), e); });

  // the API's parameters for the current filters (name or code: digits are a code prefix)
  function apiParams() {
    var p = { run: C.run };
    ["city", "county", "status", "no_site", "verdict_source", "p_min", "p_max"].forEach(function (k) { if (state[k]) { p[k] = state[k]; } });
    var q = (state.q || "").trim();
    if (/^\d+$/.test(q)) { p.region = q; } else if (q) { p.name = q; }
    return p;
  }
  function readForm() {
    FILTERS.forEach(function (k) {
      var el = form.elements[k];
      var v = el ? String(el.value).trim() : "";
      if ((k === "p_min" || k === "p_max") && v !== "") { v = String(Math.min(100, Math.max(0, Number(v))) / 100); }
      if (v) { state[k] = v; } else { delete state[k]; }
    });
    delete state.offset;
  }
  function remember() {
    var url = new URL(window.location.href);
    FILTERS.concat(["sortby", "offset"]).forEach(function (k) { if (state[k]) { url.searchParams.set(k, state[k]); } else { url.searchParams.delete(k); } });
    window.history.replaceState(null, "", url.toString());
  }

  var COLUMNS = [
    ["code", T.code], ["name", T.name], ["county_code", T.county], ["township_code", T.township], ["verdict", T.verdict],
    ["p_covered", T.p], ["verdict_source", T.source], ["no_site", T.no_site], ["nearest_site_m", T.nearest + "(" + T.m + ")"],
    ["n_measurements", T.samples],
  ];
  function load() {
    remember();
    var list = document.getElementById("list");
    var offset = Number(state.offset || 0);
    var p = Object.assign(apiParams(), { limit: LIMIT, offset: offset, sortby: state.sortby });
    list.classList.add("loading");
    V.api("/collections/villages/items", p).then(function (fc) {
      list.classList.remove("loading");
      var n = fc.numberMatched;
      document.getElementById("count").textContent = T.matched.replace("{n}", V.num(n));
      document.getElementById("page").textContent = n ? T.page.replace("{a}", V.num(offset + 1)).replace("{b}", V.num(offset + fc.numberReturned)) : "";
      document.getElementById("prev").disabled = offset <= 0;
      document.getElementById("next").disabled = offset + fc.numberReturned >= n;
      var sort = state.sortby || "code";
      list.innerHTML = '<table class="data"><thead><tr>' + COLUMNS.map(function (c) {
        var mark = sort === c[0] ? " ▲" : sort === "-" + c[0] ? " ▼" : "";
        return '<th class="sort" data-sort="' + c[0] + '">' + esc(c[1]) + mark + "</th>";
      }).join("") + "</tr></thead><tbody>" + fc.features.map(function (f) {
        var q = f.properties;
        var cls = V.classOf(q.verdict, q.no_site);
        return "<tr><td>" + esc(q.code) + '</td><td><a href="' + esc(V.link("/console/villages/" + q.code, { run: C.run })) + '">' +
          esc(q.name) + "</a></td><td>" + esc(q.county_name) + "</td><td>" + esc(q.township_name) + "</td><td>" + V.swatch(cls) +
          esc(V.verdict(q.verdict)) + '</td><td class="num">' + V.pct(q.p_covered) + "</td><td>" + esc(V.source(q.verdict_source)) +
          "</td><td>" + (q.no_site ? esc(T.yes) : esc(T.no)) + '</td><td class="num">' + V.num(q.nearest_site_m == null ? null : Math.round(q.nearest_site_m)) +
          '</td><td class="num">' + V.num(q.n_measurements) + "</td></tr>";
      }).join("") + "</tbody></table>";
      list.querySelectorAll("th[data-sort]").forEach(function (th) {
        th.addEventListener("click", function () {
          var col = th.getAttribute("data-sort");
          state.sortby = state.sortby === col ? "-" + col : col;
          if (state.sortby === "code") { delete state.sortby; }
          delete state.offset;
          load();
        });
      });
    }).catch(function (e) {
      // a refused filter (a code of no region: the API names the closest ones) shows the API's message, not a stale count
      list.classList.remove("loading");
      document.getElementById("count").textContent = "";
      document.getElementById("page").textContent = "";
      document.getElementById("prev").disabled = document.getElementById("next").disabled = true;
      V.error(list, e);
    });
  }
  form.addEventListener("submit", function (e) { e.preventDefault(); readForm(); load(); });
  document.getElementById("reset").addEventListener("click", function () {
    FILTERS.concat(["sortby", "offset"]).forEach(function (k) { delete state[k]; });
    form.reset();
    Array.prototype.forEach.call(form.elements, function (el) { if (el.name) { el.value = ""; } });
    load();
  });
  document.getElementById("prev").addEventListener("click", function () { state.offset = String(Math.max(0, Number(state.offset || 0) - LIMIT)); load(); });
  document.getElementById("next").addEventListener("click", function () { state.offset = String(Number(state.offset || 0) + LIMIT); load(); });
  // an export of exactly this list, saved under the server's file name
  document.querySelectorAll("button[data-format]").forEach(function (b) {
    b.addEventListener("click", function () {
      var fmt = b.getAttribute("data-format");
      b.disabled = true;
      V.download("/exports/villages", Object.assign(apiParams(), { format: fmt, lang: C.lang }), "villages." + fmt)
        .then(function () { b.disabled = false; });
    });
  });
  load();
})();
