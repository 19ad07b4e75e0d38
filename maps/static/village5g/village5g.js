/* village5g map page script: village and region styles, popups, the station layer (clusters, then
 * sector wedges when zoomed in) and the draw-complete hook used by tests and benchmarks.
 * Colours, labels and reason texts come from Python (maps/style.py) through village5g.configure().
 * Copyright the village5g authors; same licence as the project. */
(function (global) {
  'use strict';

  var cfg = {classes: {}, bands: {}, bandRadius: {}, reasons: {}, rateSteps: [], fillOpacity: 0.75};
  var resolveReady;
  global.village5gReady = new Promise(function (resolve) { resolveReady = resolve; });

  function esc(value) {
    return String(value == null ? '' : value).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function pct(v) { return v == null ? '–' : (100 * v).toFixed(1) + '%'; }
  function fixed(v, digits, unit) { return v == null ? '–' : Number(v).toFixed(digits) + (unit || ''); }
  function count(v) { return v == null ? '–' : Math.round(v).toLocaleString('en-US'); }
  function row(label, value) { return '<tr><th>' + label + '</th><td>' + value + '</td></tr>'; }
  function chip(key) {
    var c = cfg.classes[key];
    if (!c) { return esc(key); }
    return '<span class="v5g-chip" style="background:' + c.color + '"></span>' + esc(c.zh + ' ' + c.en);
  }
  function link(url, text) {
    return url ? '<a href="' + esc(url) + '">' + esc(text) + '</a>' : esc(text);
  }
  function rateColor(rate) {
    for (var i = 0; i < cfg.rateSteps.length; i++) {
      if (rate >= cfg.rateSteps[i].lower) { return cfg.rateSteps[i].color; }
    }
    return '#999999';
  }

  var v5g = {
    configure: function (config) { cfg = config; },

    villageStyle: function (feature) {
      var c = cfg.classes[feature.properties['class']];
      return {fillColor: c ? c.color : '#999999', fillOpacity: cfg.fillOpacity,
              color: '#ffffff', weight: 0.6, opacity: 0.9};
    },

    villagePopup: function (p) {
      var verdict = chip(p.verdict);
      if (p.verdict_source === 'measured') {
        verdict += ' <small>(实测 measured; 模型 model ' + esc(p.predicted_verdict) + ')</small>';
      } else if (p.verdict_source === 'fused') {
        verdict += ' <small>(实测修正 corrected by measurements; 模型 model ' + esc(p.predicted_verdict) + ')</small>';
      } else if (p.measured_verdict) {
        verdict += ' <small>(measured ' + esc(p.measured_verdict) + ')</small>';
      }
      var confidence = {high: '高 high', medium: '中 medium', low: '低 low'}[p.confidence] || '';
      var reasons = (p.reasons || '').split(';').filter(Boolean).map(function (code) {
        return '<li><code>' + esc(code) + '</code> ' + esc(cfg.reasons[code] || '') + '</li>';
      }).join('');
      return '<div class="v5g-popup"><div class="v5g-popup-title">' + esc(p.name) + '</div>' +
        '<div class="v5g-popup-sub">' + esc(p.code) + ' · ' + esc(p.township || '') + ' · ' +
        esc(p.county || '') + '</div><table>' +
        row('结论 verdict', verdict) +
        (p.p_covered != null ? row('通达概率 P(covered)', pct(p.p_covered) + ' · 可信度 ' + esc(confidence)) : '') +
        row('无站址 no site', p.no_site ? chip('no_site') : 'no') +
        row('好/弱/无 good/weak/none', pct(p.good_share) + ' / ' + pct(p.weak_share) + ' / ' + pct(p.none_share)) +
        row('村委会 RSRP / SINR', fixed(p.committee_rsrp_dbm, 1, ' dBm') + ' / ' + fixed(p.committee_sinr_db, 1, ' dB')) +
        row('最近站址 nearest site', esc(p.nearest_site_id || '–') + ' · ' + count(p.nearest_site_m) + ' m') +
        row('村内站址 sites inside', count(p.sites_inside)) +
        row('实测 measurements', count(p.n_measurements) +
            (p.measured_rsrp_median_dbm != null ? ' · median ' + fixed(p.measured_rsrp_median_dbm, 1, ' dBm') : '')) +
        (p.population != null ? row('人口 population', count(p.population)) : '') +
        '</table><div class="v5g-reasons">原因 reasons<ul>' + reasons + '</ul></div></div>';
    },

    bindVillage: function (feature, layer) {
      layer.bindPopup(function () { return v5g.villagePopup(feature.properties); }, {maxWidth: 380});
      layer.bindTooltip(function () { return esc(feature.properties.name); }, {sticky: true});
    },

    rateStyle: function (feature) {
      return {fillColor: rateColor(feature.properties.reach_rate), fillOpacity: 0.8,
              color: '#ffffff', weight: feature.properties.level === 'city' ? 2 : 0.8, opacity: 1};
    },

    regionPopup: function (p) {
      var html = '<div class="v5g-popup"><div class="v5g-popup-title">' + link(p.link, p.name) + '</div>' +
        '<div class="v5g-popup-sub">' + esc(p.code) + ' · ' + esc(p.level) + '</div><table>' +
        row('5G通达率 reach rate', '<b>' + pct(p.reach_rate) + '</b>') +
        row('村 villages', count(p.villages)) +
        row(chip('covered'), count(p.covered)) +
        row(chip('weak'), count(p.weak)) +
        row(chip('uncovered'), count(p.uncovered)) +
        row(chip('no_site'), count(p.no_site)) +
        row('距目标 gap to target', count(p.gap_villages) + ' villages') + '</table>';
      if (p.children && p.children.length) {
        html += '<table class="v5g-children">' + p.children.map(function (c) {
          return '<tr><td>' + link(c[3], c[1]) + '</td><td>' + count(c[2]) + '</td><td>' + pct(c[4]) + '</td></tr>';
        }).join('') + '</table>';
      }
      if (p.link) { html += '<div class="v5g-drill">' + link(p.link, '打开地图 open map →') + '</div>'; }
      return html + '</div>';
    },

    bindRegion: function (feature, layer) {
      var p = feature.properties;
      layer.bindPopup(function () { return v5g.regionPopup(p); }, {maxWidth: 380});
      var label = esc(p.name) + '<br>' + pct(p.reach_rate);
      if (p.level === 'city') {
        layer.bindTooltip(label, {permanent: true, direction: 'center', className: 'v5g-label'});
      } else {
        layer.bindTooltip(label, {sticky: true});
      }
    },

    auditPopup: function (p) {
      var c = cfg.auditClasses[p['class']] || {color: '#999999', zh: p['class'], en: ''};
      var outcome = '<span class="v5g-chip" style="background:' + c.color + '"></span>' + esc(c.zh + ' ' + c.en) +
        (p.reserve ? ' <small>(备选 reserve)</small>' : '');
      var measured = p.n_tests ? count(p.n_pass) + ' / ' + count(p.n_tests) + ' 个测试点通过 (test points pass) · RSRP ' +
        fixed(p.rsrp_median_dbm, 1, ' dBm') + ' · SINR ' + fixed(p.sinr_median_db, 1, ' dB') + ' · DL/UL ' +
        fixed(p.dl_median_mbps, 0) + ' / ' + fixed(p.ul_median_mbps, 0) + ' Mbit/s (medians)' : '–';
      return '<div class="v5g-popup"><div class="v5g-popup-title">' + esc(p.label) + ' · ' + esc(p.name) +
        '</div><div class="v5g-popup-sub">' + esc(p.code) + ' · ' + esc(p.township || '') + ' · ' +
        esc(p.county || '') + '</div><table>' +
        row('结果 outcome', outcome) +
        row('层 / 序号 stratum / order', esc(p.stratum) + ' / ' + esc(p.label)) +
        row('预测结论 predicted', chip(p.verdict) + (p.p_covered != null ? ' · 通达概率 ' + pct(p.p_covered) : '')) +
        row('预测 RSRP / SINR', fixed(p.predicted_rsrp_dbm, 1, ' dBm') + ' / ' + fixed(p.predicted_sinr_db, 1, ' dB')) +
        row('最近站址 nearest site', esc(p.nearest_site_id || '–') + ' · ' + count(p.nearest_site_m) + ' m') +
        row('导航点 GCJ-02', fixed(p.gcj02_lon, 6) + ', ' + fixed(p.gcj02_lat, 6)) +
        row('实测 measured', measured) + '</table></div>';
    },

    auditLayer: function (data) {
      return L.geoJSON(data, {
        pointToLayer: function (feature, latlng) {
          var p = feature.properties, c = cfg.auditClasses[p['class']] || {color: '#999999'};
          return L.circleMarker(latlng, {
            radius: p.reserve ? 5 : 7, fillColor: c.color, fillOpacity: 0.95, weight: p.reserve ? 2 : 1.5,
            color: p.reserve ? '#3b3b3b' : '#ffffff', dashArray: p.reserve ? '2 2' : null});
        },
        onEachFeature: function (feature, layer) {
          var p = feature.properties;
          layer.bindPopup(function () { return v5g.auditPopup(p); }, {maxWidth: 400});
          layer.bindTooltip(esc(p.label + ' ' + p.name), {sticky: true});
        }
      });
    },

    stationLayer: function (map, data, opts) {
      var group = L.layerGroup();
      var cluster = L.markerClusterGroup({
        showCoverageOnHover: false, maxClusterRadius: 60,
        iconCreateFunction: function (c) {
          var n = c.getChildCount();
          var size = n < 10 ? 26 : n < 100 ? 32 : 38;
          return L.divIcon({html: '<div><span>' + n + '</span></div>', className: 'v5g-cluster',
                            iconSize: L.point(size, size)});
        }
      });
      var wedges = L.layerGroup();
      var siteCells = data.lat.map(function () { return []; });
      var order = [];
      for (var i = 0; i < data.site.length; i++) { siteCells[data.site[i]].push(i); order.push(i); }
      function band(i) { return data.bands[data.band[i]]; }
      function radius(i) { return cfg.bandRadius[band(i)] || cfg.bandRadius.other; }
      function color(i) { return cfg.bands[band(i)] || cfg.bands.other; }
      order.sort(function (a, b) { return radius(b) - radius(a); });  // small wedges drawn on top

      function cellText(i) {
        var az = data.az[i] < 0 ? 'omni' : data.az[i] + '°';
        return esc(data.operators[data.op[i]]) + ' ' + esc(band(i)) + ' ' + az;
      }
      function sitePopup(s) {
        return '<div class="v5g-popup"><div class="v5g-popup-title">' + esc(data.id[s]) + '</div><ul>' +
          siteCells[s].map(function (i) { return '<li>' + cellText(i) + '</li>'; }).join('') + '</ul></div>';
      }
      var markers = data.lat.map(function (lat, s) {
        var marker = L.marker([lat, data.lon[s]], {icon: L.divIcon({className: 'v5g-site', iconSize: L.point(8, 8)})});
        marker.bindPopup(function () { return sitePopup(s); });
        return marker;
      });
      cluster.addLayers(markers);

      function wedge(i) {
        var s = data.site[i], lat = data.lat[s], lon = data.lon[s], r = radius(i);
        var style = {color: '#1b1b1b', weight: 0.8, opacity: 0.7, fillColor: color(i), fillOpacity: 0.6};
        if (data.az[i] < 0) { return L.circle([lat, lon], L.extend({radius: r}, style)); }
        var pts = [[lat, lon]], k = Math.cos(lat * Math.PI / 180);
        for (var step = 0; step <= 8; step++) {
          var t = (data.az[i] - 32.5 + 65 * step / 8) * Math.PI / 180;
          pts.push([lat + r * Math.cos(t) / 111320, lon + r * Math.sin(t) / (111320 * k)]);
        }
        return L.polygon(pts, style);
      }
      function update() {
        if (!map.hasLayer(group)) { return; }
        wedges.clearLayers();
        if (map.getZoom() >= opts.wedgeZoom) {
          if (group.hasLayer(cluster)) { group.removeLayer(cluster); }
          var view = map.getBounds().pad(0.25);
          order.forEach(function (i) {
            var s = data.site[i];
            if (view.contains([data.lat[s], data.lon[s]])) {
              wedges.addLayer(wedge(i).bindPopup(function () { return sitePopup(s); }));
            }
          });
          if (!group.hasLayer(wedges)) { group.addLayer(wedges); }
        } else {
          if (group.hasLayer(wedges)) { group.removeLayer(wedges); }
          if (!group.hasLayer(cluster)) { group.addLayer(cluster); }
        }
      }
      group.on('add', update);
      map.on('zoomend moveend', update);
      return group;
    },

    control: function (map, html, position, className) {
      var control = L.control({position: position});
      control.onAdd = function () {
        var div = L.DomUtil.create('div', 'leaflet-control ' + className);
        div.innerHTML = html;
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
      };
      control.addTo(map);
      return control;
    },

    ready: function (map) {
      global.village5gMap = map;  // for tests and screenshots driving the page
      map.whenReady(function () {
        // two frames: Leaflet's canvas renderer draws on the next animation frame
        requestAnimationFrame(function () {
          requestAnimationFrame(function () {
            var ms = performance.now();
            global.village5gDrawnMs = ms;
            document.documentElement.setAttribute('data-v5g-drawn-ms', ms.toFixed(1));
            resolveReady(ms);
          });
        });
      });
    }
  };

  global.village5g = v5g;
})(window);
