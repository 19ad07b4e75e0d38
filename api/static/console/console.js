// What every console page shares: texts, formatting, API calls with the caller's key, the header.
// Configuration comes from the page (window.VILLAGE5G, built by api/routers/console.py).
(function () {
  "use strict";
  var C = window.VILLAGE5G;
  var T = C.text;

  function esc(value) {
    return String(value == null ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function pct(value, digits) {
    return value == null || isNaN(value) ? "–" : (100 * value).toFixed(digits == null ? 1 : digits) + "%";
  }
  function num(value) {
    return value == null || isNaN(value) ? "–" : Number(value).toLocaleString(C.lang === "zh" ? "zh-CN" : "en-US");
  }
  // a status or kind the API gives in English, in the console's language (as given when no word is known)
  function word(prefix, value) {
    return T[prefix + value] || value;
  }
  function round(value, digits) {
    return value == null || isNaN(value) ? "–" : Number(value).toFixed(digits || 0);
  }
  // the signed-in session travels in its HttpOnly cookie; its writes carry the CSRF token
  function headers() { return C.csrf ? { "X-CSRF-Token": C.csrf } : {}; }
  function query(params) {
    var q = new URLSearchParams();
    Object.keys(params || {}).forEach(function (k) {
      var v = params[k];
      if (v !== null && v !== undefined && v !== "") { q.set(k, v); }
    });
    var text = q.toString();
    return text ? "?" + text : "";
  }
  // calls in flight: the page is ready (window.village5gReady, for browser tests) when none is left
  var pending = 0, waiting = [];
  function settle() {
    if (pending === 0) { waiting.splice(0).forEach(function (resolve) { resolve(performance.now()); }); }
  }
  window.village5gReady = new Promise(function (resolve) {
    window.addEventListener("load", function () { waiting.push(resolve); setTimeout(settle, 50); });
  });
  // what a person reads of an error body of the API: its message, except that bad parameters'
  // (api/errors.py: "参数 query.region 无效：<the first parameter's message> (invalid query.region)", and
  // every bad parameter in ``details``) are each parameter's own message without the API's location of it,
  // one a line, after the label of the page's field of that name when there is one (the search box sends
  // ``region``: no field carries that name)
  function message(body) {
    var details = (body && body.details) || [];
    var first = details[0];
    if (body && body.code === "invalid_parameter" && first && first.location && first.message &&
        String(body.message).indexOf("参数 " + first.location + " 无效：") === 0) {
      var lines = details.filter(function (d) { return d.location && d.message; }).map(function (d) {
        var words = fieldLabel(d.location);
        return (words ? words + "：" : "") + d.message;
      });
      // two fields of one label (通达概率 from and to) wrong alike read once
      return lines.filter(function (line, i) { return lines.indexOf(line) === i; }).join("\n");
    }
    return (body && body.message) || "";
  }
  // the words of the label of the page's field that a parameter's location names (body.cities.1: the
  // field cities), "" when the page has no such field or its label starts with no words
  function fieldLabel(location) {
    var name = String(location).split(".").filter(function (part) { return !/^\d+$/.test(part); }).pop();
    var field = name && document.querySelector('#app [name="' + CSS.escape(name) + '"]');
    var label = field && field.closest("label");
    return label && label.firstChild && label.firstChild.nodeType === 3 ? label.firstChild.textContent.trim() : "";
  }
  // GET a JSON document of the API; rejects with the API's own message
  function api(path, params) {
    pending += 1;
    return fetch(path + query(params), { headers: headers() }).then(function (r) {
      if (r.status === 204) { return null; }
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(message(body) || r.statusText); }
        return body;
      });
    }).finally(function () { pending -= 1; setTimeout(settle, 50); });
  }
  // POST JSON (or a FormData) with the key; resolves with {ok, status, body} (the API's error body too)
  function post(path, data) {
    var form = typeof FormData !== "undefined" && data instanceof FormData;
    var h = headers();
    if (!form) { h["Content-Type"] = "application/json"; }
    pending += 1;
    return fetch(path, { method: "POST", headers: h, body: form ? data : JSON.stringify(data) }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
    }).finally(function () { pending -= 1; setTimeout(settle, 50); });
  }
  // an error body of the API as a message and a table of its problems (file, row, field, message); a bad
  // parameter's details (location, and the regions a region's message names) are in the message already
  function problems(body) {
    return '<div class="error">' + esc(message(body) || T.failed) + "</div>" + problemTable(body.details || []);
  }
  // a file's problems or warnings (file, row, field, message) as a table, without a heading: an accepted
  // file's warnings are no failure
  function problemTable(details) {
    var rows = details.filter(function (d) { return !d.location; }).slice(0, 200).map(function (d) {
      return "<tr><td>" + esc(d.file || "") + '</td><td class="num">' + esc(d.row == null ? "" : d.row) + "</td><td>" +
        esc(d.field || "") + "</td><td>" + esc(d.message || "") + "</td></tr>";
    }).join("");
    return rows ? '<table class="data problems"><thead><tr><th>' +
      esc(T.file) + '</th><th class="num">' + esc(T.row) + "</th><th>" + esc(T.field) + "</th><th>" + esc(T.problem) +
      "</th></tr></thead><tbody>" + rows + "</tbody></table>" : "";
  }
  // a file of the API fetched with the session and saved under the server's name (else ``fallback``)
  function download(path, params, fallback) {
    return fetch(path + query(params), { headers: headers() }).then(function (r) {
      if (!r.ok) { return r.json().then(function (body) { throw new Error(message(body) || r.statusText); }); }
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
  function verdict(v) { return C.verdicts[v] || v || "–"; }
  function source(v) { return C.sources[v] || v || "–"; }
  function swatch(cls) {
    var c = C.classes[cls];
    return c ? '<span class="swatch" style="background:' + c.color + '"></span>' : "";
  }
  function classOf(v, noSite) { return v !== "covered" && noSite ? "no_site" : v; }
  function reasons(text) {
    return String(text || "").split(/[;,]/).filter(Boolean).map(function (r) {
      var words = C.reasons[r.trim()];
      return esc(words ? (C.lang === "zh" ? words[0] : words[1]) : r);
    });
  }
  function link(path, params) {
    var all = Object.assign({}, params || {});
    if (C.lang === "en") { all.lang = "en"; }
    return path + query(all);
  }
  function error(where, e) {
    where.innerHTML = '<div class="error">' + esc(e && e.message ? e.message : e) + "</div>";
  }
  // a table whose columns sort on a click of their header; rows are arrays of [html, sortValue]
  function sortable(table, rows, render) {
    var order = { col: -1, dir: 1 };
    function draw() {
      var shown = rows.slice();
      if (order.col >= 0) {
        shown.sort(function (a, b) {
          var x = a[order.col][1], y = b[order.col][1];
          if (x == null) { return 1; }
          if (y == null) { return -1; }
          return (x < y ? -1 : x > y ? 1 : 0) * order.dir;
        });
      }
      table.querySelector("tbody").innerHTML = shown.map(render).join("");
    }
    table.querySelectorAll("th").forEach(function (th, i) {
      th.classList.add("sort");
      th.addEventListener("click", function () {
        order.dir = order.col === i ? -order.dir : (th.classList.contains("num") ? -1 : 1);
        order.col = i;
        table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-dir"); });
        th.setAttribute("data-dir", order.dir > 0 ? "▲" : "▼");
        draw();
      });
    });
    draw();
  }

  // header: language switch and key
  var switcher = document.getElementById("lang-switch");
  var url = new URL(window.location.href);
  url.searchParams.set("lang", C.lang === "zh" ? "en" : "zh");
  switcher.href = url.toString();
  switcher.textContent = T.switch;
  // sign in: an API key exchanged for a session cookie; sign out ends the session on the server
  var button = document.getElementById("key-button");
  if (C.user) {
    button.textContent = T.sign_out + "（" + C.user.role + (C.user.region ? " · " + C.user.region : "") + "）";
    button.addEventListener("click", function () {
      post("/console/logout", {}).then(function () { window.location.reload(); });
    });
  } else {
    button.textContent = T.sign_in;
    button.addEventListener("click", function () {
      var value = window.prompt(T.key_prompt, "");
      if (value === null || !value.trim()) { return; }
      post("/console/login", { key: value.trim() }).then(function (r) {
        if (!r.ok) { window.alert(message(r.body) || T.failed); return; }
        window.location.reload();
      });
    });
  }

  window.V5G = { C: C, T: T, esc: esc, pct: pct, num: num, round: round, word: word, api: api, post: post, download: download, problems: problems, problemTable: problemTable, message: message, headers: headers, query: query,
                 verdict: verdict, source: source, swatch: swatch, classOf: classOf, reasons: reasons, link: link,
                 error: error, sortable: sortable };
})();
