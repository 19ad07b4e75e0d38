// Console village page: the polygon on a small map among its neighbours, metrics, reasons in words,
// probability and evidence, the verdict over past runs and the nearest sites.
(function () {
  "use strict";
  var V = window.V5G, C = V.C, T = V.T, esc = V.esc;
  var app = document.getElementById("app");
  app.innerHTML = '<div class="crumbs"><a href="' + esc(V.link("/console/villages")) + '">← ' + esc(T.back) + "</a></div>" +
    '<h1 id="title">' + esc(C.code) + '</h1><div class="village"><div id="vmap"></div><div id="facts" class="panel"></div></div>' +
    '<section class="grid"><div class="panel"><h2>' + esc(T.history) + '</h2><div id="history"></div></div>' +
    '<div class="panel"><h2>' + esc(T.nearby_sites) + '</h2><div id="sites"></div></div></section>';
  function row(name, value) { return "<tr><th>" + esc(name) + "</th><td>" + value + "</td></tr>"; }
  function db(value, unit) { return value == null ? "–" : esc(Number(value).toFixed(1)) + " " + unit; }

  V.api("/collections/villages/items/" + encodeURIComponent(C.code), { run: C.run }).then(function (f) {
    var q = f.properties;
    var cls = V.classOf(q.verdict, q.no_site);
    document.getElementById("title").innerHTML = esc(q.name) + ' <small>' + esc(q.code) + " · " + esc(q.city_name) + " " +
      esc(q.county_name) + " " + esc(q.township_name) + "</small>";
    document.title = q.name + " · " + T.app;
    document.getElementById("facts").innerHTML = '<div class="verdict">' + V.swatch(cls) + esc(C.classes[cls][C.lang]) +
      ' <span class="p">' + esc(T.p) + " " + V.pct(q.p_covered) + "</span></div><table class=\"facts\">" +
      row(T.source, esc(V.source(q.verdict_source))) + row(T.confidence, esc(C.confidence[q.confidence] || q.confidence || "–")) +
      row(T.reasons, V.reasons(q.reasons).join("<br>") || "–") +
      row(T.no_site, q.no_site ? esc(T.yes) : esc(T.no)) + row(T.sites_inside, V.num(q.sites_inside)) +
      row(T.nearest, q.nearest_site_m == null ? "–" : V.num(Math.round(q.nearest_site_m)) + " " + esc(T.m) + " (" + esc(q.nearest_site_id || "") + ")") +
      row(T.good_share, V.pct(q.good_share)) + row(T.weak_share, V.pct(q.weak_share)) +
      row(T.committee_rsrp, db(q.committee_rsrp_dbm, "dBm")) + row(T.committee_sinr, db(q.committee_sinr_db, "dB")) +
      row(T.samples, V.num(q.n_measurements)) + row(T.measured_rsrp, db(q.measured_rsrp_median_dbm, "dBm")) +
      row(T.measured_good, V.pct(q.measured_good_share)) +
      row(T.mr_samples, V.num(q.mr_samples)) + row(T.mr_good, V.pct(q.mr_good_share)) + row(T.mr_period, esc(q.mr_period || "–")) +
      row(T.population, V.num(q.population)) + "</table>";
    drawMap(f);
    sites(f);
  }).catch(function (e) { V.error(document.getElementById("facts"), e); });

  function bounds(geometry) {
    var b = [180, 90, -180, -90];
    (function walk(c) {
      if (typeof c[0] === "number") {
        b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]); b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]);
      } else { c.forEach(walk); }
    })(geometry.coordinates);
    return b;
  }

  function drawMap(f) {
    var b = bounds(f.geometry);
    var colors = ["match", ["get", "cls"]];
    Object.keys(C.classes).forEach(function (k) { colors.push(k, C.classes[k].color); });
    colors.push("#999999");
    var sources = { village: { type: "geojson", data: f } };
    var layers = [{ id: "bg", type: "background", paint: { "background-color": C.background } }];
    if (C.tiles) {
      sources.v5g = { type: "vector", tiles: [window.location.origin + C.tiles], maxzoom: 18 };
      layers.push({ id: "land", type: "fill", source: "v5g", "source-layer": "divisions", paint: { "fill-color": C.land } },
        { id: "others", type: "fill", source: "v5g", "source-layer": "villages", paint: { "fill-color": colors, "fill-opacity": 0.45 } },
        { id: "others-line", type: "line", source: "v5g", "source-layer": "villages", paint: { "line-color": "#ffffff", "line-width": 0.6 } });
    }
    layers.push({ id: "this", type: "fill", source: "village", paint: { "fill-color": C.classes[V.classOf(f.properties.verdict, f.properties.no_site)].color, "fill-opacity": 0.85 } },
      { id: "this-line", type: "line", source: "village", paint: { "line-color": "#000000", "line-width": 2.5 } });
    var map = new maplibregl.Map({
      container: "vmap", style: { version: 8, sources: sources, layers: layers },
      bounds: [[b[0], b[1]], [b[2], b[3]]], fitBoundsOptions: { padding: 80, maxZoom: 13.5 }, attributionControl: false,
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
    window.village5gMap = map;
    window.village5gReady = new Promise(function (resolve) { map.once("idle", function () { resolve(performance.now()); }); });
  }

  // cells within about 3 km of the village, grouped by site, nearest first
  function sites(f) {
    var b = bounds(f.geometry), q = f.properties;
    var lon0 = q.point_lon, lat0 = q.point_lat;
    var d = 0.03;
    V.api("/collections/stations/items", { bbox: [b[0] - d, b[1] - d, b[2] + d, b[3] + d].map(function (x) { return x.toFixed(5); }).join(","), limit: 1000 })
      .then(function (fc) {
        var bySite = {};
        fc.features.forEach(function (s) {
          var p = s.properties, c = s.geometry.coordinates;
          var dx = (c[0] - lon0) * 111320 * Math.cos(lat0 * Math.PI / 180), dy = (c[1] - lat0) * 110540;
          var site = bySite[p.site_id] || (bySite[p.site_id] = { id: p.site_id, operators: {}, bands: {}, status: {}, m: Math.sqrt(dx * dx + dy * dy) });
          site.operators[C.operators[p.operator] || p.operator] = 1; site.bands[p.rat + " " + p.band] = 1;
          site.status[C.siteStatus[p.status] || p.status] = 1;
        });
        var list = Object.keys(bySite).map(function (k) { return bySite[k]; }).sort(function (a, b) { return a.m - b.m; }).slice(0, 10);
        var box = document.getElementById("sites");
        if (!list.length) { box.textContent = T.none_found; return; }
        box.innerHTML = '<table class="data"><thead><tr><th>' + esc(T.sites) + "</th><th>" + esc(T.operator) + "</th><th>" + esc(T.band) +
          "</th><th>" + esc(T.status) + '</th><th class="num">' + esc(T.distance_committee) + "(" + esc(T.m) + ")</th></tr></thead><tbody>" +
          list.map(function (s) {
            return "<tr><td>" + esc(s.id) + "</td><td>" + esc(Object.keys(s.operators).join(", ")) + "</td><td>" + esc(Object.keys(s.bands).join(", ")) +
              "</td><td>" + esc(Object.keys(s.status).join(", ")) + '</td><td class="num">' + V.num(Math.round(s.m)) + "</td></tr>";
          }).join("") + "</tbody></table>";
      }).catch(function (e) { V.error(document.getElementById("sites"), e); });
  }

  V.api("/villages/" + encodeURIComponent(C.code) + "/history", {}).then(function (h) {
    document.getElementById("history").innerHTML = '<table class="data"><thead><tr><th>' + esc(T.run_label) + "</th><th>" + esc(T.finished) +
      "</th><th>" + esc(T.verdict) + '</th><th class="num">' + esc(T.p) + "</th><th>" + esc(T.source) + "</th><th>" + esc(T.rules) + "</th></tr></thead><tbody>" +
      h.runs.slice().reverse().map(function (r) {
        return "<tr" + (r.run_id === C.run ? ' class="current"' : "") + "><td>" + r.run_id + "</td><td>" + esc(String(r.finished_at || "").replace("T", " ").slice(0, 16)) +
          "</td><td>" + V.swatch(V.classOf(r.verdict, r.no_site)) + esc(V.verdict(r.verdict)) + '</td><td class="num">' + V.pct(r.p_covered) +
          "</td><td>" + esc(V.source(r.verdict_source)) + "</td><td>" + esc(r.rules) + "</td></tr>";
      }).join("") + "</tbody></table>";
  }).catch(function (e) { V.error(document.getElementById("history"), e); });
})();
