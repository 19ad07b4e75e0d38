// Console planning: fill-in sites for a region (the sites and the villages they gain on a map and in
// a table) and the what-if of an uploaded list of proposed sites.
(function () {
  "use strict";
  var V = window.V5G, C = V.C, T = V.T, esc = V.esc;
  var app = document.getElementById("app");
  if (!C.run) { app.innerHTML = '<div class="empty">' + esc(T.no_runs) + "</div>"; return; }
  app.innerHTML =
    '<section class="panel"><h2>' + esc(T.plan_title) + " <small>" + esc(T.needs_auditor) + "</small></h2>" +
    '<form id="plan" class="filters">' +
    "<label>" + esc(T.region_code) + ' <input name="region" size="10" value="' + esc(C.region || "") + '"></label>' +
    "<label>" + esc(T.n_sites) + ' <input name="sites" type="number" min="1" max="500" value="10"></label>' +
    "<label>" + esc(T.band) + ' <select name="band"><option>n41</option><option>n28</option><option>n78</option><option>n79</option></select></label>' +
    "<label>" + esc(T.operator) + ' <select name="operator"><option>CMCC</option><option>CUCC</option><option>CTCC</option><option>CBN</option></select></label>' +
    '<button type="submit">' + esc(T.plan_run) + "</button></form>" +
    '<div class="village"><div id="pmap"></div><div id="plan-out" class="panel"></div></div></section>' +
    '<section class="panel"><h2>' + esc(T.whatif_title) + " <small>" + esc(T.needs_auditor) + "</small></h2>" +
    '<form id="whatif" class="filters"><label><input type="file" name="file"></label> <button type="submit">' + esc(T.whatif_run) +
    '</button></form><div id="whatif-out"></div></section>';

  var colors = ["match", ["get", "cls"]];
  Object.keys(C.classes).forEach(function (k) { colors.push(k, C.classes[k].color); });
  colors.push("#999999");
  var map = new maplibregl.Map({
    container: "pmap",
    style: { version: 8, sources: {
      v5g: { type: "vector", tiles: [window.location.origin + C.tiles], maxzoom: 18 },
      planned: { type: "geojson", data: { type: "FeatureCollection", features: [] } },
    }, layers: [
      { id: "bg", type: "background", paint: { "background-color": C.background } },
      { id: "land", type: "fill", source: "v5g", "source-layer": "divisions", paint: { "fill-color": C.land } },
      { id: "villages", type: "fill", source: "v5g", "source-layer": "villages", paint: { "fill-color": colors, "fill-opacity": 0.6 } },
      { id: "gained", type: "line", source: "v5g", "source-layer": "villages", filter: ["in", ["get", "code"], ["literal", []]],
        paint: { "line-color": "#000000", "line-width": 2 } },
      { id: "divisions", type: "line", source: "v5g", "source-layer": "divisions", paint: { "line-color": "#555555", "line-width": 1 } },
      { id: "sites", type: "circle", source: "planned", paint: { "circle-radius": 7, "circle-color": "#e31a1c",
        "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 } },
    ] },
    bounds: [[C.bounds[0], C.bounds[1]], [C.bounds[2], C.bounds[3]]], fitBoundsOptions: { padding: 20 }, attributionControl: false,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
  window.village5gMap = map;
  map.on("click", "sites", function (e) {
    var p = e.features[0].properties;
    new maplibregl.Popup().setLngLat(e.lngLat).setHTML("<b>" + esc(T.rank) + " " + esc(p.rank) + "</b> " + esc(p.site_id) +
      "<br>" + esc(T.gained) + " " + esc(p.gained)).addTo(map);
  });

  var out = document.getElementById("plan-out");
  document.getElementById("plan").addEventListener("submit", function (e) {
    e.preventDefault();
    var f = e.target.elements;
    var body = { sites: Number(f.sites.value), band: f.band.value, operator: f.operator.value };
    if (f.region.value.trim()) { body.region = f.region.value.trim(); }
    out.textContent = T.planning_wait;
    V.post("/plan", body).then(function (r) {
      if (!r.ok) { out.innerHTML = V.problems(r.body); return; }
      var p = r.body, gained = [];
      p.sites.forEach(function (s) { gained = gained.concat(s.villages_gained); });
      out.innerHTML = '<div class="sub">' + esc(T.before) + " " + V.pct(p.reach_rate_before) + " (" + V.num(p.covered_before) + " / " +
        V.num(p.villages) + ")" + (p.region ? " · " + esc(p.region) : "") + '</div><table class="data"><thead><tr><th>' + esc(T.rank) +
        "</th><th>" + esc(T.sites) + "</th><th>" + esc(T.lonlat) + '</th><th class="num">' + esc(T.gained) + '</th><th class="num">' +
        esc(T.cumulative) + "</th></tr></thead><tbody>" + p.sites.map(function (s) {
          return "<tr><td>" + s.rank + "</td><td>" + esc(s.site_id) + "</td><td>" + s.lon.toFixed(5) + ", " + s.lat.toFixed(5) + '</td><td class="num">' +
            V.num(s.gained) + '</td><td class="num">' + V.pct(s.region_reach_rate != null ? s.region_reach_rate : s.reach_rate) + "</td></tr>";
        }).join("") + "</tbody></table>";
      var features = p.sites.map(function (s) {
        return { type: "Feature", geometry: { type: "Point", coordinates: [s.lon, s.lat] },
                 properties: { rank: s.rank, site_id: s.site_id, gained: s.gained } };
      });
      map.getSource("planned").setData({ type: "FeatureCollection", features: features });
      window.village5gPlanned = features;
      map.setFilter("gained", ["in", ["get", "code"], ["literal", gained]]);
      if (p.sites.length) {
        var lons = p.sites.map(function (s) { return s.lon; }), lats = p.sites.map(function (s) { return s.lat; });
        map.fitBounds([[Math.min.apply(null, lons), Math.min.apply(null, lats)], [Math.max.apply(null, lons), Math.max.apply(null, lats)]],
                      { padding: 80, maxZoom: 12 });
      }
    });
  });

  document.getElementById("whatif").addEventListener("submit", function (e) {
    e.preventDefault();
    var box = document.getElementById("whatif-out"), input = e.target.elements.file;
    if (!input.files.length) { box.innerHTML = '<div class="error">' + esc(T.choose_file) + "</div>"; return; }
    var data = new FormData();
    data.append("file", input.files[0]);
    box.textContent = T.planning_wait;
    V.post("/whatif", data).then(function (r) {
      if (!r.ok) { box.innerHTML = V.problems(r.body); return; }
      var w = r.body;
      box.innerHTML = '<div class="sub">' + esc(T.covered_before) + " " + V.num(w.covered_before) + " → " + esc(T.covered_after) + " " +
        V.num(w.covered_after) + " / " + V.num(w.villages) + " · " + esc(T.changed) + " " + V.num(w.changed) + '</div><table class="data"><thead><tr><th>' +
        esc(T.code) + "</th><th>" + esc(T.name) + "</th><th>" + esc(T.county) + "</th><th>" + esc(T.verdict) + "</th></tr></thead><tbody>" +
        w.villages_changed.map(function (v) {
          return "<tr><td>" + esc(v.code) + '</td><td><a href="' + esc(V.link("/console/villages/" + v.code)) + '">' + esc(v.name) + "</a></td><td>" +
            esc(v.county_name) + "</td><td>" + esc(V.verdict(v.verdict_before)) + " → " + esc(V.verdict(v.verdict_after)) + "</td></tr>";
        }).join("") + "</tbody></table>";
    });
  });
})();
