// The console's map: the run's vector tiles drawn with MapLibre GL (vendored under ../maplibre).
// Configuration comes from the page (window.VILLAGE5G, built by api/routers/console.py).
(function () {
  "use strict";
  var C = window.VILLAGE5G;
  var T = C.text;
  document.getElementById("app").innerHTML = '<div id="map"></div><aside id="panel"></aside>';
  var origin = window.location.origin;

  function esc(value) {
    return String(value == null ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function pct(value, digits) {
    return value == null || isNaN(value) ? "–" : (100 * value).toFixed(digits == null ? 1 : digits) + "%";
  }
  function label(cls) {
    var c = C.classes[cls];
    return c ? c[C.lang] : cls;
  }

  // -- style ------------------------------------------------------------------------------------
  var classColor = ["match", ["get", "cls"]];
  Object.keys(C.classes).forEach(function (k) { classColor.push(k, C.classes[k].color); });
  classColor.push("#999999");
  var steps = C.rateSteps.slice().reverse(); // ascending lower bounds; the first is the lowest class
  var reachColor = ["step", ["coalesce", ["get", "reach"], -1], steps[0].color];
  steps.slice(1).forEach(function (s) { reachColor.push(s.lower, s.color); });
  var bandColor = ["match", ["get", "band"]];
  Object.keys(C.bands).forEach(function (b) { if (b !== "other") { bandColor.push(b, C.bands[b]); } });
  bandColor.push(C.bands.other);

  var sources = {
    v5g: { type: "vector", tiles: [origin + C.tiles], minzoom: 0, maxzoom: C.maxZoom },
  };
  var layers = [{ id: "background", type: "background", paint: { "background-color": C.rasters.length ? "#ffffff" : C.background } }];
  C.rasters.forEach(function (r, i) {
    sources["basemap" + i] = { type: "raster", tiles: r.tiles, tileSize: 256, maxzoom: r.maxzoom, attribution: r.attribution };
    layers.push({ id: "basemap" + i, type: "raster", source: "basemap" + i });
  });
  var VZ = C.villageMinZoom;
  // the predicted RSRP: 256 px raster tiles (shown at the tile's own zoom), off until asked for
  sources.rsrp = { type: "raster", tiles: [origin + C.rsrpTiles], tileSize: 256, minzoom: C.rsrpMinZoom, maxzoom: C.maxZoom };
  layers.push(
    { id: "divisions-fill", type: "fill", source: "v5g", "source-layer": "divisions",
      paint: { "fill-color": ["step", ["zoom"], reachColor, VZ, C.rasters.length ? "rgba(0,0,0,0)" : C.land],
               "fill-opacity": ["step", ["zoom"], 0.85, VZ, 1] } },
    { id: "villages-fill", type: "fill", source: "v5g", "source-layer": "villages", minzoom: VZ,
      paint: { "fill-color": classColor, "fill-opacity": C.fillOpacity } },
    { id: "rsrp", type: "raster", source: "rsrp", minzoom: C.rsrpMinZoom, layout: { visibility: "none" },
      paint: { "raster-opacity": 0.85, "raster-resampling": "nearest" } },
    { id: "villages-line", type: "line", source: "v5g", "source-layer": "villages", minzoom: VZ + 2,
      paint: { "line-color": "#ffffff", "line-width": 0.6 } },
    { id: "villages-selected", type: "line", source: "v5g", "source-layer": "villages", minzoom: VZ,
      filter: ["==", ["get", "code"], ""], paint: { "line-color": "#000000", "line-width": 2.5 } },
    { id: "divisions-line", type: "line", source: "v5g", "source-layer": "divisions",
      paint: { "line-color": "#555555", "line-width": ["step", ["zoom"], 0.8, VZ, 1.6] } },
    { id: "sites-circle", type: "circle", source: "v5g", "source-layer": "sites", minzoom: C.siteMinZoom,
      filter: ["<", ["zoom"], 15],
      paint: { "circle-color": bandColor, "circle-radius": 3, "circle-stroke-color": "#ffffff", "circle-stroke-width": 1 } },
    { id: "sites-sector", type: "symbol", source: "v5g", "source-layer": "sites", minzoom: 15,
      layout: { "icon-image": ["case", ["<", ["get", "azimuth"], 0], ["concat", "omni-", ["get", "band"]],
                               ["concat", "wedge-", ["get", "band"]]],
                "icon-rotate": ["max", ["get", "azimuth"], 0], "icon-rotation-alignment": "map",
                "icon-allow-overlap": true, "icon-ignore-placement": true, "icon-anchor": "center",
                "icon-size": ["interpolate", ["linear"], ["zoom"], 15, 0.5, 18, 1.2] } }
  );

  var map = new maplibregl.Map({
    container: "map",
    style: { version: 8, sources: sources, layers: layers },
    bounds: [[C.bounds[0], C.bounds[1]], [C.bounds[2], C.bounds[3]]],
    fitBoundsOptions: { padding: 20 },
    maxZoom: C.maxZoom + 1,
    attributionControl: C.rasters.length ? {} : false,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  window.village5gMap = map;
  map.on("error", function (e) { console.error("map: " + (e.error && e.error.message ? e.error.message : e)); });
  // resolved with the draw time (ms) once the first view's tiles are loaded and drawn (browser tests)
  window.village5gReady = new Promise(function (resolve) {
    map.once("idle", function () { resolve(performance.now()); });
  });

  // sector wedges (and a ring for omni cells) per band colour, drawn once on a canvas
  function addIcons() {
    var size = 64;
    Object.keys(C.bands).forEach(function (band) {
      ["wedge", "omni"].forEach(function (kind) {
        var canvas = document.createElement("canvas");
        canvas.width = canvas.height = size;
        var g = canvas.getContext("2d");
        g.fillStyle = C.bands[band];
        g.strokeStyle = "#ffffff";
        g.lineWidth = 2;
        g.beginPath();
        if (kind === "wedge") {
          g.moveTo(size / 2, size / 2);
          g.arc(size / 2, size / 2, size / 2 - 2, -Math.PI / 2 - Math.PI / 6, -Math.PI / 2 + Math.PI / 6);
          g.closePath();
        } else {
          g.arc(size / 2, size / 2, size / 6, 0, 2 * Math.PI);
        }
        g.fill();
        g.stroke();
        var name = kind + "-" + band;
        if (!map.hasImage(name)) { map.addImage(name, g.getImageData(0, 0, size, size)); }
      });
    });
  }
  map.on("styleimagemissing", function (e) {
    // an LTE or unlisted band: draw it as "other"
    var kind = e.id.split("-")[0];
    if (map.hasImage(kind + "-other")) {
      var other = map.style.getImage(kind + "-other");
      if (other) { map.addImage(e.id, other.data); }
    }
  });
  map.on("load", addIcons);

  // the latest audit round's sample at the committee points, coloured by field outcome (off at first)
  var auditColor = ["match", ["get", "cls"]];
  Object.keys(C.auditClasses).forEach(function (k) { auditColor.push(k, C.auditClasses[k].color); });
  auditColor.push("#999999");
  map.on("load", function () {
    var V = window.V5G;
    V.api("/audits", {}).then(function (a) {
      if (!a.rounds.length) { return null; }
      var n = a.rounds[0].round;
      return Promise.all([V.api("/audits/" + n + "/villages", { format: "geojson" }), V.api("/audits/" + n + "/report", {})])
        .then(function (both) {
          var outcome = {};
          both[1].villages.forEach(function (v) {
            outcome[v.code] = v.passed === true ? "pass" : v.passed === false ? "fail" : v.reserve ? "reserve" : "untested";
          });
          var features = both[0].features.map(function (f) {
            var p = f.properties;
            return { type: "Feature", geometry: f.geometry,
                     properties: { code: p.code, name: p.name, cls: outcome[p.code] || (p.reserve ? "reserve" : "untested"),
                                   round: n, verdict: p.verdict } };
          });
          map.addSource("audit", { type: "geojson", data: { type: "FeatureCollection", features: features } });
          map.addLayer({ id: "audit-points", type: "circle", source: "audit", layout: { visibility: "none" },
                         paint: { "circle-color": auditColor, "circle-radius": ["interpolate", ["linear"], ["zoom"], 6, 3, 12, 7],
                                  "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5 } });
          var box = document.getElementById("audit-toggle");
          box.hidden = false;
          box.querySelector("span").textContent = T.audit_layer.replace("{n}", n);
          document.getElementById("audit-legend").innerHTML = "<h2>" + esc(T.outcome) + "</h2>" + Object.keys(C.auditClasses).map(function (k) {
            return '<div class="row"><span class="swatch" style="background:' + C.auditClasses[k].color + '"></span>' +
              esc(C.auditClasses[k][C.lang]) + "</div>";
          }).join("");
          map.on("click", "audit-points", function (e) {
            var p = e.features[0].properties;
            card.innerHTML = "<h2>" + esc(p.name) + "</h2><table>" + row(T.code, esc(p.code)) + row(T.round, esc(p.round)) +
              row(T.outcome, esc(C.auditClasses[p.cls][C.lang])) + row(T.verdict, esc(label(p.verdict))) + "</table>";
          });
        });
    }).catch(function () { /* audits are optional on the map */ });
  });

  // -- panel ------------------------------------------------------------------------------------
  var panel = document.getElementById("panel");
  var legend = Object.keys(C.classes).map(function (k) {
    return '<div class="row"><span class="swatch" style="background:' + C.classes[k].color + '"></span>' +
      esc(C.classes[k][C.lang]) + "</div>";
  }).join("");
  var rateLegend = C.rateSteps.map(function (s, i) {
    var upper = i === 0 ? null : C.rateSteps[i - 1].lower;
    var text = i === 0 ? "≥ " + pct(s.lower, 0) : (s.lower < 0 ? "< " + pct(upper, 0) : pct(s.lower, 0) + "–" + pct(upper, 0));
    return '<div class="row"><span class="swatch" style="background:' + s.color + '"></span>' + esc(text) + "</div>";
  }).join("");
  var options = Object.keys(C.basemaps).map(function (name) {
    var text = name === "none" ? T.none : C.basemaps[name];
    return '<option value="' + name + '"' + (name === C.basemap ? " selected" : "") + ">" + esc(text) + "</option>";
  }).join("");
  panel.innerHTML =
    '<h1>' + esc(T.title) + '</h1>' +
    '<div class="meta">' + esc(T.run) + " " + C.run + (C.region ? " · " + esc(C.region) : "") + "</div>" +
    '<div class="hint">' + esc(T.zoom_hint) + "</div>" +
    '<fieldset><legend>' + esc(T.legend) + "</legend>" +
    '<label><input type="checkbox" data-layers="villages-fill,villages-line,villages-selected" checked> ' + esc(T.villages) + "</label>" +
    '<label><input type="checkbox" data-layers="sites-circle,sites-sector" checked> ' + esc(T.sites) + "</label>" +
    '<label><input type="checkbox" data-layers="divisions-fill,divisions-line" checked> ' + esc(T.divisions) + "</label>" +
    '<label><input type="checkbox" data-layers="rsrp"> ' + esc(T.rsrp) + "</label>" +
    '<label id="audit-toggle" hidden><input type="checkbox" data-layers="audit-points"> <span></span></label>' +
    "</fieldset>" +
    '<div class="legend"><h2>' + esc(T.villages) + "</h2>" + legend + "<h2>" + esc(T.reach) + "</h2>" + rateLegend +
    '<div id="audit-legend"></div>' +
    "<h2>" + esc(T.rsrp) + "</h2>" + C.rsrpSteps.map(function (s) {
      return '<div class="row"><span class="swatch" style="background:' + s.color + '"></span>' + esc(s.label) + "</div>";
    }).join("") + "</div>" +
    '<label class="basemap">' + esc(T.basemap) + ' <select id="basemap">' + options + "</select></label>" +
    '<div id="card"></div>';
  panel.querySelectorAll("input[data-layers]").forEach(function (box) {
    box.addEventListener("change", function () {
      box.getAttribute("data-layers").split(",").forEach(function (id) {
        map.setLayoutProperty(id, "visibility", box.checked ? "visible" : "none");
      });
    });
  });
  document.getElementById("basemap").addEventListener("change", function (e) {
    var url = new URL(window.location.href);
    url.searchParams.set("basemap", e.target.value);
    window.location.href = url.toString();
  });

  // -- cards ------------------------------------------------------------------------------------
  var card = document.getElementById("card");
  function row(name, value) {
    return "<tr><th>" + esc(name) + "</th><td>" + value + "</td></tr>";
  }
  function villageCard(p) {
    map.setFilter("villages-selected", ["==", ["get", "code"], p.code]);
    var html = "<h2>" + esc(p.name) + "</h2><table>" +
      row(T.code, esc(p.code)) + row(T.county, esc(p.county || "")) + row(T.township, esc(p.township || "")) +
      row(T.verdict, '<span class="swatch" style="background:' + (C.classes[p.cls] || {}).color + '"></span>' + esc(label(p.verdict))) +
      row(T.p, pct(p.p)) + row(T.source, esc(C.sources[p.source] || p.source || "")) +
      row(T.no_site, esc(p.no_site ? T.yes : T.no)) + "</table><div id=\"more\">" + esc(T.loading) + "</div>" +
      '<a class="details" href="/console/villages/' + encodeURIComponent(p.code) + "?run=" + C.run +
      (C.lang === "en" ? "&lang=en" : "") + '">' + esc(T.details) + " →</a>";
    card.innerHTML = html;
    var url = origin + "/collections/villages/items/" + encodeURIComponent(p.code) + "?run=" + C.run;
    fetch(url).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (f) {
        var more = document.getElementById("more");
        if (!more) { return; }
        if (!f) { more.textContent = ""; return; }
        var q = f.properties || {};
        var reasons = String(q.reasons || "").split(/[;,]/).filter(Boolean).map(function (r) {
          var words = C.reasons[r.trim()];
          return esc(words ? (C.lang === "zh" ? words[0] : words[1] || words[0]) : r);
        }).join("<br>");
        more.innerHTML = "<table>" + row(T.reasons, reasons || "–") +
          row(T.nearest, q.nearest_site_m == null ? "–" : esc(Math.round(q.nearest_site_m)) + " " + esc(T.m) +
              (q.nearest_site_id ? " (" + esc(q.nearest_site_id) + ")" : "")) +
          row(T.samples, esc(q.n_measurements == null ? 0 : q.n_measurements)) + "</table>";
      });
  }
  function divisionCard(p) {
    card.innerHTML = "<h2>" + esc(p.name) + "</h2><table>" + row(T.code, esc(p.code)) +
      row(T.reach, pct(p.reach)) + row(T.villages_n, esc(p.villages)) + row(T.covered_n, esc(p.covered)) + "</table>";
  }
  function siteCard(p) {
    card.innerHTML = "<h2>" + esc(p.site_id) + "</h2><table>" + row(T.operator, esc(p.operator)) +
      row(T.band, esc(p.rat + " " + p.band)) + row(T.azimuth, p.azimuth < 0 ? esc(T.omni) : esc(p.azimuth) + "°") +
      row(T.status, esc(p.status)) + "</table>";
  }
  map.on("click", function (e) {
    var hits = map.queryRenderedFeatures(e.point, { layers: ["sites-circle", "sites-sector", "villages-fill", "divisions-fill"] });
    if (!hits.length) { return; }
    var f = hits[0];
    if (f.layer.id.indexOf("sites") === 0) { siteCard(f.properties); }
    else if (f.layer.id === "villages-fill") { villageCard(f.properties); }
    else {
      divisionCard(f.properties);
      if (map.getZoom() < VZ) { map.easeTo({ center: e.lngLat, zoom: Math.min(map.getZoom() + 2, VZ + 1) }); }
    }
  });
  ["villages-fill", "divisions-fill", "sites-circle", "sites-sector"].forEach(function (id) {
    map.on("mouseenter", id, function () { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", id, function () { map.getCanvas().style.cursor = ""; });
  });
})();
