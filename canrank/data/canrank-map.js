/* canrank map: builds the LSOA choropleth, CAN and borough layers, legend, tooltips and CAN
 * profiles from the page's JSON data. Every text goes into the page through textContent, never
 * innerHTML, so names from the data show as text. Each map's context is pushed onto
 * window.canrankMaps for tests and for the side-by-side comparison. */
(function () {
  "use strict";
  var NS = {};
  window.canrankMap = NS;
  window.canrankMaps = window.canrankMaps || [];

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function row(table, label, value) {
    var tr = el("tr");
    tr.appendChild(el("th", null, label));
    tr.appendChild(el("td", null, value));
    table.appendChild(tr);
    return tr;
  }

  function fmt(v) {
    if (v === null || v === undefined || v === "") return "n/a";
    if (typeof v === "number") return v.toLocaleString("en-GB", { maximumFractionDigits: 4 });
    return String(v);
  }

  function readJson(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  /* [x0, y0, dx1, dy1, ...] in 1e-5 degrees -> [[lon, lat], ...] (closed). */
  function decodeRing(enc, q) {
    var out = [], x = 0, y = 0;
    for (var i = 0; i < enc.length; i += 2) {
      x += enc[i];
      y += enc[i + 1];
      out.push([x * q, y * q]);
    }
    if (out.length) out.push(out[0]);
    return out;
  }

  function decodePolygons(enc, q) {
    return {
      type: "MultiPolygon",
      coordinates: enc.map(function (poly) {
        return poly.map(function (ring) { return decodeRing(ring, q); });
      })
    };
  }

  NS.context = function (map, geomId, viewId) {
    var G = readJson(geomId), V = readJson(viewId);
    var ctx = { map: map, G: G, V: V, layers: {}, measure: 0, legend: null };
    ctx.byCan = {};
    V.cans.forEach(function (c) { ctx.byCan[c.id] = c; });
    window.canrankMaps.push(ctx);
    var b = G.bounds;
    map.fitBounds([[b[1], b[0]], [b[3], b[2]]]);
    return ctx;
  };

  function lsoaStyle(ctx, i) {
    var m = ctx.V.measures[ctx.measure];
    return {
      fillColor: m.colours[m.cls.charCodeAt(i) - 48],
      fillOpacity: 0.8,
      color: "#777777",
      weight: 0.3,
      className: "canrank-lsoa"
    };
  }

  function lsoaTooltip(ctx, i) {
    var G = ctx.G, V = ctx.V, box = el("div", "canrank-tip");
    box.appendChild(el("div", "canrank-tip-title", G.lsoa.name[i]));
    var t = el("table");
    row(t, "LSOA code", G.lsoa.code[i]);
    row(t, "Borough", G.boroughs.name[G.lsoa.borough[i]]);
    var n = G.lsoa.code.length;
    V.measures.forEach(function (m, k) {
      var tr = row(t, m.label, fmt(m.value[i]) + "  (rank " + m.rank[i] + " of " + n + ")");
      if (k === ctx.measure) tr.className = "canrank-current";
    });
    row(t, "Decile of composite rank", V.decile[i] + " (1 = most stressed 10%)");
    var can = V.can[i];
    row(t, "CAN", can ? can + ". " + ctx.byCan[can].name : "none");
    box.appendChild(t);
    if (can) box.appendChild(el("div", "canrank-hint", "Click for the CAN's profile"));
    return box;
  }

  NS.lsoaLayer = function (ctx) {
    var G = ctx.G, q = G.quantum, feats = [];
    for (var i = 0; i < G.lsoa.code.length; i++) {
      feats.push({ type: "Feature", properties: { i: i }, geometry: decodePolygons(G.lsoa.geom[i], q) });
    }
    var layer = L.geoJSON({ type: "FeatureCollection", features: feats }, {
      style: function (f) { return lsoaStyle(ctx, f.properties.i); },
      onEachFeature: function (f, lyr) {
        var i = f.properties.i;
        lyr.bindTooltip(function () { return lsoaTooltip(ctx, i); }, { sticky: true, className: "canrank-tooltip" });
        lyr.on("mouseover", function () { lyr.setStyle({ weight: 2, color: "#000000" }); });
        lyr.on("mouseout", function () { layer.resetStyle(lyr); });
        lyr.on("click", function (e) { if (ctx.V.can[i]) NS.openCan(ctx, ctx.V.can[i], e.latlng); });
      }
    });
    ctx.layers.lsoa = layer;
    return layer;
  };

  NS.setMeasure = function (ctx, k) {
    ctx.measure = k;
    if (ctx.layers.lsoa) ctx.layers.lsoa.setStyle(function (f) { return lsoaStyle(ctx, f.properties.i); });
    if (ctx.legend) renderLegend(ctx);
  };

  NS.measureChoice = function (ctx, k) {
    var group = L.layerGroup();
    group.on("add", function () { if (ctx.measure !== k) NS.setMeasure(ctx, k); });
    return group;
  };

  NS.boroughLayer = function (ctx) {
    var G = ctx.G, feats = G.boroughs.geom.map(function (enc, j) {
      return { type: "Feature", properties: { j: j }, geometry: decodePolygons(enc, G.quantum) };
    });
    var layer = L.geoJSON({ type: "FeatureCollection", features: feats }, {
      interactive: false,
      style: function () {
        return { fill: false, color: "#404040", weight: 1.2, dashArray: "4 3", className: "canrank-borough" };
      }
    });
    ctx.layers.boroughs = layer;
    return layer;
  };

  /* CAN outlines are not filled: an invisible fill would catch the pointer over the whole CAN
   * and hide the tooltips of its LSOAs. The outline shows the CAN's name; clicking an LSOA
   * inside a CAN (or the outline, or the label) opens the CAN's profile. */
  function canStyle(c) {
    return c.changed
      ? { fill: false, color: "#0096c7", weight: 3.5, dashArray: "8 5", className: "canrank-can canrank-can-changed" }
      : { fill: false, color: "#08306b", weight: 3, className: "canrank-can" };
  }

  NS.canLayer = function (ctx) {
    var q = ctx.G.quantum, feats = ctx.V.cans.map(function (c) {
      return { type: "Feature", properties: { id: c.id }, geometry: decodePolygons(c.geom, q) };
    });
    var layer = L.geoJSON({ type: "FeatureCollection", features: feats }, {
      style: function (f) { return canStyle(ctx.byCan[f.properties.id]); },
      onEachFeature: function (f, lyr) {
        var c = ctx.byCan[f.properties.id];
        lyr.bindTooltip(function () { return el("div", null, c.id + ". " + c.name); }, { sticky: true });
        lyr.on("click", function (e) { NS.openCan(ctx, c.id, e.latlng); });
      }
    });
    ctx.layers.cans = layer;
    return layer;
  };

  NS.canLabels = function (ctx) {
    var group = L.layerGroup();
    ctx.V.cans.forEach(function (c) {
      var node = el("div", "canrank-can-label" + (c.changed ? " canrank-can-label-changed" : ""));
      node.appendChild(el("span", "canrank-can-num", c.id));
      node.appendChild(el("span", "canrank-can-name", c.name));
      var icon = L.divIcon({ html: node, className: "canrank-can-icon", iconSize: null });
      var m = L.marker([c.label[1], c.label[0]], { icon: icon, keyboard: false, title: "" });
      m.on("click", function (e) { NS.openCan(ctx, c.id, e.latlng); });
      group.addLayer(m);
    });
    ctx.layers.labels = group;
    group.on("add", function () { declutter(ctx); });
    ctx.map.on("zoomend", function () { if (ctx.map.hasLayer(group)) declutter(ctx); });
    return group;
  };

  /* Move overlapping CAN labels up or down until they are clear of the ones already placed
   * (in CAN order). Hand-written: Leaflet has no label placement and the plugins are not on
   * PyPI; fifteen labels need nothing cleverer. */
  function declutter(ctx) {
    var placed = [], nodes = [];
    ctx.layers.labels.eachLayer(function (m) {
      var icon = m.getElement();
      if (icon && icon.firstChild) nodes.push(icon.firstChild);
    });
    nodes.forEach(function (n) { n.style.position = "relative"; n.style.top = "0px"; });
    nodes.forEach(function (n) {
      var r = n.getBoundingClientRect(), h = r.height + 2;
      var steps = [0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6];
      for (var s = 0; s < steps.length; s++) {
        var dy = steps[s] * h, top = r.top + dy, bottom = r.bottom + dy;
        var clash = placed.some(function (p) {
          return r.left < p.right && r.right > p.left && top < p.bottom && bottom > p.top;
        });
        if (!clash || s === steps.length - 1) {
          n.style.top = dy + "px";
          placed.push({ left: r.left, right: r.right, top: top, bottom: bottom });
          break;
        }
      }
    });
  }

  NS.openCan = function (ctx, id, latlng) {
    var c = ctx.byCan[id], V = ctx.V, box = el("div", "canrank-profile");
    box.appendChild(el("div", "canrank-tip-title", "CAN " + c.id + ": " + c.name));
    if (c.changed) box.appendChild(el("div", "canrank-hint", V.changed_note));
    var t = el("table");
    row(t, "Population", fmt(c.population));
    row(t, "LSOAs", c.n_lsoas);
    row(t, "Boroughs", c.boroughs);
    row(t, "Mean composite score (population-weighted)", fmt(c.mean_score));
    row(t, "Best LSOA rank", c.best_rank);
    box.appendChild(t);
    var p = el("table", "canrank-profile-ind"), head = el("tr");
    ["Indicator", "CAN mean", V.area + " median"].forEach(function (h) { head.appendChild(el("th", null, h)); });
    p.appendChild(head);
    c.profile.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", null, r[0]));
      tr.appendChild(el("td", null, fmt(r[1])));
      tr.appendChild(el("td", null, fmt(r[2])));
      p.appendChild(tr);
    });
    box.appendChild(p);
    L.popup({ maxWidth: 420 }).setLatLng(latlng).setContent(box).openOn(ctx.map);
  };

  function renderLegend(ctx) {
    var V = ctx.V, m = V.measures[ctx.measure], box = ctx.legend;
    box.textContent = "";
    box.appendChild(el("div", "canrank-legend-title", m.label));
    box.appendChild(el("div", "canrank-hint", m.direction_note));
    var t = el("table");
    for (var k = 0; k < m.colours.length; k++) {
      var tr = el("tr"), sw = el("td"), swatch = el("span", "canrank-swatch");
      swatch.style.background = m.colours[k];
      sw.appendChild(swatch);
      tr.appendChild(sw);
      tr.appendChild(el("td", null, m.classes[k]));
      tr.appendChild(el("td", "canrank-count", m.counts[k] + " LSOAs"));
      t.appendChild(tr);
    }
    box.appendChild(t);
    box.appendChild(el("div", "canrank-hint", V.scheme_note));
    var sym = el("div", "canrank-symbols");
    var s1 = el("div"); s1.appendChild(el("span", "canrank-sym canrank-sym-can")); s1.appendChild(document.createTextNode(" Community Action Neighbourhood (number. name)"));
    sym.appendChild(s1);
    if (V.changed_note) {
      var s3 = el("div"); s3.appendChild(el("span", "canrank-sym canrank-sym-changed")); s3.appendChild(document.createTextNode(" " + V.changed_note));
      sym.appendChild(s3);
    }
    var s2 = el("div"); s2.appendChild(el("span", "canrank-sym canrank-sym-borough")); s2.appendChild(document.createTextNode(" Borough boundary"));
    sym.appendChild(s2);
    box.appendChild(sym);
    var src = el("div", "canrank-sources");
    src.appendChild(el("div", "canrank-legend-sub", "Data reference dates"));
    V.sources.forEach(function (s) { src.appendChild(el("div", null, s[0] + ": " + s[1])); });
    box.appendChild(src);
  }

  NS.chrome = function (ctx) {
    var V = ctx.V, title = el("div", "canrank-title");
    title.id = "canrank-title-" + (window.canrankMaps.indexOf(ctx) + 1);
    title.appendChild(el("div", "canrank-title-main", V.title));
    V.notes.forEach(function (n) { title.appendChild(el("div", "canrank-note", n)); });
    L.DomEvent.disableClickPropagation(title);
    ctx.map.getContainer().appendChild(title);
    var legend = L.control({ position: "bottomright" });
    legend.onAdd = function () {
      var div = el("div", "canrank-legend leaflet-control");
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    legend.addTo(ctx.map);
    ctx.legend = legend.getContainer();
    renderLegend(ctx);
  };

  /* Keep two maps on the same view (hand-written: Leaflet.Sync is not on PyPI). */
  NS.sync = function (a, b) {
    var busy = false;
    function follow(src, dst) {
      src.on("move zoomend", function () {
        if (busy) return;
        busy = true;
        dst.setView(src.getCenter(), src.getZoom(), { animate: false });
        busy = false;
      });
    }
    follow(a, b);
    follow(b, a);
  };
})();
