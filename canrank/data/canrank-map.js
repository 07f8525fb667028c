/* canrank map: builds the choropleth, CAN, borough and ward layers, the key panel, search,
 * tooltips, CAN profiles and the text alternative from the page's JSON data.
 *
 * Every text from the data goes into the page with textContent (never innerHTML, never as a
 * Leaflet HTML string), so names from files show as text whatever they contain. Each map's
 * context is pushed onto window.canrankMaps for tests and for the side-by-side comparison. */
(function () {
  "use strict";
  var NS = {};
  window.canrankMap = NS;
  window.canrankMaps = window.canrankMaps || [];

  var NARROW = 640;         /* px: below this width the key starts collapsed */
  var PHONE_TOOLTIP = 260;  /* px: widest tooltip */

  /* ---------- small helpers ---------- */

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function add(parent, child) { parent.appendChild(child); return child; }

  /* One number format everywhere: whole numbers with thousands separators from 100 up,
   * otherwise three significant figures. */
  function fmt(v) {
    if (v === null || v === undefined || v === "" || (typeof v === "number" && !isFinite(v))) return "n/a";
    if (typeof v !== "number") return String(v);
    if (Math.abs(v) >= 100) return Math.round(v).toLocaleString("en-GB");
    if (v === 0) return "0";
    return String(Number(v.toPrecision(3)));
  }
  NS.fmt = fmt;

  function count(n) { return Math.round(n).toLocaleString("en-GB"); }

  function pct(part, whole) { return whole ? Math.round(100 * part / whole) + " %" : "n/a"; }

  function possessive(area) { return /s$/i.test(area) ? area + "'" : area + "'s"; }

  function readJson(id) { return JSON.parse(document.getElementById(id).textContent); }

  function stop(node) {
    L.DomEvent.disableClickPropagation(node);
    L.DomEvent.disableScrollPropagation(node);
    return node;
  }

  /* [x0, y0, dx1, dy1, ...] in quantum degrees -> [[lat, lng], ...] */
  function decodeLatLngs(enc, q) {
    var out = [], x = 0, y = 0;
    for (var i = 0; i < enc.length; i += 2) {
      x += enc[i];
      y += enc[i + 1];
      out.push([y * q, x * q]);
    }
    return out;
  }

  function decodePolys(enc, q) {
    return enc.map(function (poly) { return poly.map(function (ring) { return decodeLatLngs(ring, q); }); });
  }

  function boundsOf(b) { return L.latLngBounds([b[1], b[0]], [b[3], b[2]]); }

  function rectOf(node) { return node.getBoundingClientRect(); }

  /* ---------- page start ---------- */

  NS.start = function () {
    var cfgNode = document.getElementById("canrank-page");
    if (!cfgNode) return;
    if (window.performance && performance.mark) performance.mark("canrank-start");
    var P = JSON.parse(cfgNode.textContent);
    var G = readJson(P.geometry);
    P.maps.forEach(function (m, idx) { NS.create(G, readJson(m.view), m, idx, P); });
    if (window.canrankMaps.length === 2) NS.sync(window.canrankMaps[0].map, window.canrankMaps[1].map);
    if (window.performance && performance.mark) performance.mark("canrank-ready");
    document.documentElement.setAttribute("data-canrank-ready", "1");
  };

  NS.create = function (G, V, cfg, idx, P) {
    var container = document.getElementById(cfg.el);
    var map = L.map(container, {
      zoomControl: false, attributionControl: false, zoomSnap: 0.25, zoomDelta: 0.5,
      wheelPxPerZoomLevel: 120, preferCanvas: false, maxZoom: 18
    });
    container.setAttribute("role", "region");
    container.setAttribute("aria-label", "Map: " + V.title);
    var ctx = {
      map: map, G: G, V: V, idx: idx, cfg: cfg, P: P, layers: {}, measure: 0,
      compare: P.maps.length > 1, ui: {}, labelLayout: [], show: {}
    };
    ctx.byCan = {};
    V.cans.forEach(function (c) { ctx.byCan[c.id] = c; });
    window.canrankMaps.push(ctx);
    map.createPane("canrank-wards").style.zIndex = 410;
    map.createPane("canrank-boroughs").style.zIndex = 420;
    map.createPane("canrank-cans").style.zIndex = 430;
    map.createPane("canrank-leaders").style.zIndex = 590;
    map.getPane("canrank-wards").style.pointerEvents = "none";
    map.getPane("canrank-boroughs").style.pointerEvents = "none";
    map.getPane("canrank-leaders").style.pointerEvents = "none";
    ctx.fitBounds = boundsOf(G.bounds);
    map.fitBounds(ctx.fitBounds, { animate: false, padding: [4, 4] });
    /* The panels first (cheap to measure while the map is empty), then one fit that keeps the
     * expanded key off the area on a wide screen, then the layers. */
    L.control.zoom({ position: "bottomright" }).addTo(map);
    buildChrome(ctx);
    var pad = panelPadding(ctx);
    map.fitBounds(ctx.fitBounds, {
      animate: false, paddingTopLeft: [pad.left, Math.max(4, pad.top - 40)],
      paddingBottomRight: [4, Math.max(4, pad.bottom - 40)]
    });
    ctx.z0 = map.getZoom();
    NS.lsoaLayer(ctx).addTo(map);
    NS.boroughLayer(ctx).addTo(map);
    NS.wardLayer(ctx);
    NS.canLayer(ctx).addTo(map);
    /* The shapes are reached through search and the CAN list, not one Tab stop per area. */
    [ctx.layers.lsoa, ctx.layers.cans].forEach(function (g) {
      g.eachLayer(function (l) { var p = l.getElement(); if (p) p.setAttribute("tabindex", "-1"); });
    });
    NS.canLabels(ctx).addTo(map);
    buildTextAlternative(ctx);
    map.on("zoomend", function () { zoomVisibility(ctx); });
    map.on("zoomend moveend resize", function () { layoutLabels(ctx); });
    map.on("popupopen", function (e) { ctx.popupOpen = e.popup; });
    map.on("tooltipopen", function (e) { clampTooltip(e.tooltip); });
    zoomVisibility(ctx);
    layoutLabels(ctx);
    return ctx;
  };

  /* ---------- LSOAs ---------- */

  function lsoaStyle(ctx, i) {
    var m = ctx.V.measures[ctx.measure];
    return {
      fillColor: m.colours[m.cls.charCodeAt(i) - 48], fillOpacity: 0.78,
      color: "#7a7a7a", weight: 0.3, className: "canrank-lsoa"
    };
  }

  function rankText(ctx, r) { return "rank " + count(r) + " of " + count(ctx.V.n); }

  function lsoaDetails(ctx, i, box) {
    var G = ctx.G, V = ctx.V;
    add(box, el("div", "canrank-tip-title", G.lsoa.name[i] + " (" + G.lsoa.code[i] + ")"));
    var place = G.boroughs.name[G.lsoa.borough[i]];
    var w = G.lsoa.ward ? G.lsoa.ward[i] : -1;
    if (w >= 0) place = G.wards.name[w] + " ward, " + place;
    add(box, el("div", "canrank-tip-place", place));
    var s = V.measures[0], d = V.decile.length ? V.decile[i] : null;
    var line = "Score " + fmt(s.value[i]) + ", " + rankText(ctx, s.rank[i]);
    add(box, el("div", "canrank-tip-score" + (ctx.measure === 0 ? " canrank-current" : ""), line));
    if (d) add(box, el("div", "canrank-tip-decile", "Among the most stressed " + (10 * d) + " % of areas"));
    var N = V.national;
    if (N && N.imd_rank && N.imd_rank[i]) {
      var nat = "England: IMD rank " + count(N.imd_rank[i]) + " of " + count(N.n);
      if (N.imd_decile && N.imd_decile[i]) nat += ", decile " + N.imd_decile[i];
      add(box, el("div", "canrank-tip-national", nat));
    }
    if (ctx.measure > 0) {
      var m = V.measures[ctx.measure];
      add(box, el("div", "canrank-current", m.label + ": " + fmt(m.value[i]) + " (" + rankText(ctx, m.rank[i]) + ")"));
    }
    var can = V.can[i];
    add(box, el("div", "canrank-tip-can", can ? "In CAN " + can + ": " + ctx.byCan[can].name : "Not in a CAN"));
    return box;
  }

  function lsoaTooltip(ctx, i) { return lsoaDetails(ctx, i, el("div", "canrank-tip")); }

  NS.lsoaLayer = function (ctx) {
    var G = ctx.G, q = G.quantum, renderer = L.svg({ padding: 0.3 });
    var group = L.featureGroup();
    ctx.lsoaByIndex = [];
    for (var i = 0; i < G.lsoa.code.length; i++) {
      (function (i) {
        var lyr = L.polygon(decodePolys(G.lsoa.geom[i], q), Object.assign({ renderer: renderer }, lsoaStyle(ctx, i)));
        lyr.bindTooltip(function () { return lsoaTooltip(ctx, i); },
          { sticky: true, className: "canrank-tooltip", direction: "auto", opacity: 0.97 });
        lyr.on("mouseover", function () { lyr.setStyle({ weight: 2, color: "#000000" }); });
        lyr.on("mouseout", function () { lyr.setStyle(lsoaStyle(ctx, i)); });
        lyr.on("click", function (e) {
          if (ctx.V.can[i]) NS.openCan(ctx, ctx.V.can[i], e.latlng);
          else openPopup(ctx, lsoaDetails(ctx, i, el("div", "canrank-profile")), e.latlng);
        });
        lyr.canrankIndex = i;
        ctx.lsoaByIndex.push(lyr);
        group.addLayer(lyr);
      })(i);
    }
    ctx.layers.lsoa = group;
    return group;
  };

  NS.setMeasure = function (ctx, k) {
    ctx.measure = k;
    ctx.lsoaByIndex.forEach(function (lyr) { lyr.setStyle(lsoaStyle(ctx, lyr.canrankIndex)); });
    renderLegend(ctx);
    var radios = ctx.ui.measureRadios || [];
    radios.forEach(function (r, j) { r.checked = j === k; });
  };

  /* ---------- boroughs and wards ---------- */

  function placeLabel(latlng, text, cls, pane) {
    var node = el("div", cls, text);
    return L.marker(latlng, {
      icon: L.divIcon({ html: node, className: "canrank-place-icon", iconSize: null }),
      interactive: false, keyboard: false, pane: pane || "markerPane"
    });
  }

  NS.boroughLayer = function (ctx) {
    var G = ctx.G, group = L.layerGroup(), names = L.layerGroup();
    G.boroughs.geom.forEach(function (enc) {
      group.addLayer(L.polygon(decodePolys(enc, G.quantum), {
        pane: "canrank-boroughs", interactive: false, fill: false, color: "#333333",
        weight: 1.4, dashArray: "5 3", className: "canrank-borough"
      }));
    });
    G.boroughs.name.forEach(function (name, j) {
      var p = G.boroughs.label[j];
      names.addLayer(placeLabel([p[1], p[0]], name, "canrank-borough-name"));
    });
    ctx.layers.boroughs = group;
    ctx.layers.boroughNames = names;
    ctx.show.boroughs = true;
    return group;
  };

  NS.wardLayer = function (ctx) {
    var G = ctx.G, W = G.wards || { name: [], lines: [], label: [] };
    var lines = L.layerGroup(), names = L.layerGroup();
    if (W.lines && W.lines.length) {
      var all = [];
      W.lines.forEach(function (part) { part.forEach(function (ring) { all.push(decodeLatLngs(ring, G.quantum)); }); });
      lines.addLayer(L.polyline(all, {
        pane: "canrank-wards", interactive: false, color: "#555555", weight: 0.9,
        opacity: 0.8, className: "canrank-ward"
      }));
    }
    W.name.forEach(function (name, j) {
      var p = W.label[j];
      names.addLayer(placeLabel([p[1], p[0]], name, "canrank-ward-name"));
    });
    ctx.layers.wards = lines;
    ctx.layers.wardNames = names;
    ctx.show.wards = W.name.length > 0;
    return lines;
  };

  /* Which geography shows at the current zoom (z0 = the zoom that shows the whole area). */
  function zoomVisibility(ctx) {
    var map = ctx.map, z = map.getZoom(), z0 = ctx.z0;
    function toggle(layer, on) {
      if (on && !map.hasLayer(layer)) layer.addTo(map);
      if (!on && map.hasLayer(layer)) map.removeLayer(layer);
    }
    toggle(ctx.layers.boroughs, ctx.show.boroughs);
    toggle(ctx.layers.boroughNames, ctx.show.boroughs && z >= z0 + 1 && z < z0 + 4);
    toggle(ctx.layers.wards, ctx.show.wards && z >= z0 + 2);
    toggle(ctx.layers.wardNames, ctx.show.wards && z >= z0 + 3);
    var names = ctx.show.cans && z >= z0 + 2;
    map.getContainer().classList.toggle("canrank-can-names", names);
    toggle(ctx.layers.cans, ctx.show.cans);
    toggle(ctx.layers.labels, ctx.show.cans);
  }
  NS.zoomVisibility = zoomVisibility;

  /* ---------- CANs ---------- */

  function canStyle(c) {
    return c.changed
      ? { pane: "canrank-cans", fill: false, color: "#c2185b", weight: 4, dashArray: "9 5", className: "canrank-can canrank-can-changed" }
      : { pane: "canrank-cans", fill: false, color: "#08306b", weight: 3, className: "canrank-can" };
  }

  /* CAN outlines are not filled: a fill would catch the pointer over the whole CAN and hide the
   * tooltips of its LSOAs. Clicking an LSOA inside a CAN (or the outline, or the label) opens
   * the CAN's profile. */
  NS.canLayer = function (ctx) {
    var q = ctx.G.quantum, group = L.featureGroup();
    ctx.canShapes = {};
    ctx.V.cans.forEach(function (c) {
      var lyr = L.polygon(decodePolys(c.geom, q), canStyle(c));
      lyr.on("add", function () {
        var path = lyr.getElement();
        if (path) path.setAttribute("data-can", String(c.id));
      });
      lyr.bindTooltip(function () { return el("div", null, "CAN " + c.id + ": " + c.name); }, { sticky: true, className: "canrank-tooltip" });
      lyr.on("click", function (e) { NS.openCan(ctx, c.id, e.latlng); });
      ctx.canShapes[c.id] = lyr;
      group.addLayer(lyr);
    });
    ctx.layers.cans = group;
    ctx.show.cans = true;
    return group;
  };

  NS.canLabels = function (ctx) {
    var group = L.layerGroup();
    ctx.labelMarkers = {};
    ctx.layers.leaders = L.layerGroup().addTo(ctx.map);
    ctx.V.cans.forEach(function (c) {
      var node = el("div", "canrank-can-label" + (c.changed ? " canrank-can-label-changed" : ""));
      node.setAttribute("data-can", String(c.id));
      add(node, el("span", "canrank-can-num", c.id));
      add(node, el("span", "canrank-can-name", c.name));
      var icon = L.divIcon({ html: node, className: "canrank-can-icon", iconSize: null });
      var m = L.marker([c.label[1], c.label[0]], { icon: icon, keyboard: true, title: "", riseOnHover: true });
      m.on("add", function () {
        var e = m.getElement();
        e.setAttribute("role", "button");
        e.setAttribute("aria-label", "CAN " + c.id + ": " + c.name + ". Open its profile");
        e.removeAttribute("title");
        e.removeAttribute("alt");
        if (!e.canrankKeys) {
          e.canrankKeys = true;
          e.addEventListener("keydown", function (ev) {
            if (ev.key === "Enter" || ev.key === " ") {
              ev.preventDefault();
              NS.openCan(ctx, c.id, L.latLng(c.label[1], c.label[0]));
            }
          });
        }
      });
      m.on("click", function () { NS.openCan(ctx, c.id, L.latLng(c.label[1], c.label[0])); });
      ctx.labelMarkers[c.id] = m;
      group.addLayer(m);
    });
    ctx.layers.labels = group;
    group.on("add", function () { setTimeout(function () { layoutLabels(ctx); }, 0); });
    return group;
  };

  function overlaps(a, b, pad) {
    return a[0] < b[2] + pad && a[2] + pad > b[0] && a[1] < b[3] + pad && a[3] + pad > b[1];
  }

  function overlapArea(a, b) {
    var w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]), h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
    return w > 0 && h > 0 ? w * h : 0;
  }

  /* Place each CAN's label on its anchor (a point deep inside the CAN); where it would overlap a
   * label already placed or cover another CAN's anchor, try positions on rings around the anchor
   * (nearest first) and draw a leader line from the anchor to the moved label. Hand-written:
   * Leaflet has no label placement and fifteen labels need nothing cleverer. */
  function layoutLabels(ctx) {
    var map = ctx.map;
    if (!map.hasLayer(ctx.layers.labels)) { ctx.layers.leaders.clearLayers(); ctx.labelLayout = []; return; }
    ctx.layers.leaders.clearLayers();
    var size = map.getSize(), items = [];
    /* All writes, then all reads: one layout, not one per label. */
    ctx.V.cans.forEach(function (c) {
      var icon = ctx.labelMarkers[c.id].getElement();
      if (!icon) return;
      var node = icon.firstChild;
      node.style.left = "0px";
      node.style.top = "0px";
      items.push({ c: c, node: node, a: map.latLngToContainerPoint([c.label[1], c.label[0]]) });
    });
    items.forEach(function (it) { it.w = it.node.offsetWidth; it.h = it.node.offsetHeight; });
    var anchors = items.map(function (it) { return [it.a.x - 4, it.a.y - 4, it.a.x + 4, it.a.y + 4]; });
    var placed = [], layout = [];
    items.forEach(function (it, n) {
      var best = null, bestCost = Infinity, step = Math.max(it.h, 16) + 2;
      var cands = [[0, 0]];
      for (var r = 1; r <= 7; r++) {
        var dirs = 8 + 4 * (r - 1);
        for (var k = 0; k < dirs; k++) {
          var ang = -Math.PI / 2 + 2 * Math.PI * k / dirs;
          cands.push([Math.round(Math.cos(ang) * r * step * 1.2), Math.round(Math.sin(ang) * r * step)]);
        }
      }
      for (var j = 0; j < cands.length; j++) {
        var dx = cands[j][0], dy = cands[j][1];
        var box = [it.a.x + dx - it.w / 2, it.a.y + dy - it.h / 2, it.a.x + dx + it.w / 2, it.a.y + dy + it.h / 2];
        var cost = 0;
        placed.forEach(function (p) { cost += overlapArea(box, [p[0] - 2, p[1] - 2, p[2] + 2, p[3] + 2]) * 10; });
        anchors.forEach(function (q, m) { if (m !== n && overlaps(box, q, 0)) cost += 2000; });
        if (box[0] < 0 || box[1] < 0 || box[2] > size.x || box[3] > size.y) cost += 50;
        cost += Math.sqrt(dx * dx + dy * dy) * 0.01;
        if (cost < bestCost) { bestCost = cost; best = { dx: dx, dy: dy, box: box }; }
        if (cost < 1) break;
      }
      it.node.style.left = best.dx + "px";
      it.node.style.top = best.dy + "px";
      placed.push(best.box);
      var moved = best.dx !== 0 || best.dy !== 0, leader = null;
      if (moved) {
        /* From the anchor to the nearest point of the label's box. */
        var ex = Math.max(best.box[0], Math.min(it.a.x, best.box[2]));
        var ey = Math.max(best.box[1], Math.min(it.a.y, best.box[3]));
        leader = [[it.a.x, it.a.y], [ex, ey]];
        var line = L.polyline([map.containerPointToLatLng(leader[0]), map.containerPointToLatLng(leader[1])], {
          pane: "canrank-leaders", interactive: false, color: it.c.changed ? "#c2185b" : "#08306b",
          weight: 1.5, className: "canrank-leader"
        });
        ctx.layers.leaders.addLayer(line);
        var dot = L.circleMarker(map.containerPointToLatLng(leader[0]), {
          pane: "canrank-leaders", interactive: false, radius: 2.5, weight: 1, color: "#ffffff",
          fillColor: it.c.changed ? "#c2185b" : "#08306b", fillOpacity: 1, className: "canrank-leader-dot"
        });
        ctx.layers.leaders.addLayer(dot);
        line.on("add", function () { var p = line.getElement(); if (p) p.setAttribute("data-can", String(it.c.id)); });
        var p = line.getElement && line.getElement();
        if (p) p.setAttribute("data-can", String(it.c.id));
      }
      layout.push({ id: it.c.id, anchor: [it.a.x, it.a.y], box: best.box, moved: moved, leader: leader });
    });
    ctx.labelLayout = layout;
  }
  NS.layoutLabels = layoutLabels;

  /* Keep a tooltip inside the window (a wide tooltip near the edge of a phone screen). */
  function clampTooltip(tooltip) {
    var node = tooltip.getElement && tooltip.getElement();
    if (!node) return;
    node.style.marginLeft = "";
    var r = rectOf(node), w = document.documentElement.clientWidth, shift = 0;
    if (r.left < 4) shift = 4 - r.left;
    else if (r.right > w - 4) shift = Math.max(4 - r.left, w - 4 - r.right);
    if (shift) node.style.marginLeft = shift + "px";
  }

  /* ---------- popups ---------- */

  /* Room the popup must keep free: the panels over the map, in container pixels. */
  function panelPadding(ctx) {
    var box = rectOf(ctx.map.getContainer()), pad = { top: 10, left: 10, right: 10, bottom: 10 };
    var narrow = box.width < NARROW;
    [ctx.ui.panel, ctx.ui.search].forEach(function (node) {
      if (!node) return;
      var r = rectOf(node);
      if (!r.width) return;
      if (!narrow && node === ctx.ui.panel && r.height > box.height / 3) pad.left = Math.max(pad.left, r.right - box.left + 10);
      else pad.top = Math.max(pad.top, r.bottom - box.top + 10);
    });
    [ctx.ui.attribution, ctx.ui.zoom].forEach(function (node) {
      if (!node) return;
      var r = rectOf(node);
      if (r.width) pad.bottom = Math.max(pad.bottom, box.bottom - r.top + 10);
    });
    return pad;
  }

  function openPopup(ctx, content, latlng) {
    var box = rectOf(ctx.map.getContainer());
    if (box.width < NARROW) setCollapsed(ctx, true);
    var pad = panelPadding(ctx);
    var width = Math.max(160, Math.min(340, box.width - pad.left - pad.right - 30));
    var height = Math.max(120, box.height - pad.top - pad.bottom - 40);
    content.style.maxWidth = width + "px";
    var popup = L.popup({
      maxWidth: width, minWidth: Math.min(220, width), maxHeight: height, autoPan: true,
      autoPanPaddingTopLeft: L.point(pad.left, pad.top),
      autoPanPaddingBottomRight: L.point(pad.right, pad.bottom),
      className: "canrank-popup", keepInView: true
    }).setLatLng(latlng).setContent(content);
    popup.openOn(ctx.map);
    var closer = popup.getElement() && popup.getElement().querySelector(".leaflet-popup-close-button");
    if (closer) closer.setAttribute("aria-label", "Close");
    return popup;
  }

  NS.openCan = function (ctx, id, latlng) {
    var c = ctx.byCan[id], V = ctx.V, box = el("div", "canrank-profile");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "CAN " + c.id + " profile");
    add(box, el("div", "canrank-tip-title", "CAN " + c.id + ": " + c.name));
    if (ctx.compare) {
      add(box, el("div", c.changed ? "canrank-changed-note" : "canrank-hint",
        c.changed ? "No matching CAN in " + V.other : "Matches CAN " + c.match + " in " + V.other));
    }
    var t = add(box, el("table", "canrank-profile-facts"));
    function row(label, value) {
      var tr = add(t, el("tr"));
      add(tr, el("th", null, label)).setAttribute("scope", "row");
      add(tr, el("td", null, value));
    }
    row("Residents", count(c.population));
    row("Areas (LSOAs)", count(c.n_lsoas));
    row("Boroughs", c.boroughs);
    row("Mean score", fmt(c.mean_score) + " (weighted by residents)");
    row("Most stressed area", rankText(ctx, c.best_rank));
    var p = add(box, el("table", "canrank-profile-ind"));
    var head = add(p, el("tr"));
    ["Measure", "CAN mean", V.area + " median"].forEach(function (h) { add(head, el("th", null, h)).setAttribute("scope", "col"); });
    c.profile.forEach(function (r) {
      var tr = add(p, el("tr"));
      add(tr, el("td", null, r[0]));
      add(tr, el("td", null, fmt(r[1])));
      add(tr, el("td", null, fmt(r[2])));
    });
    return openPopup(ctx, box, latlng || L.latLng(c.label[1], c.label[0]));
  };

  /* ---------- the key panel, search, attribution ---------- */

  function setCollapsed(ctx, collapsed) {
    var ui = ctx.ui;
    if (!ui.panel) return;
    ui.panel.classList.toggle("canrank-collapsed", collapsed);
    ui.toggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
    ui.toggle.textContent = collapsed ? "Key \u25BE" : "Hide \u25B4";
    ui.body.hidden = collapsed;
  }
  NS.setCollapsed = setCollapsed;

  function classText(ctx, m, k, order) {
    var n = ctx.V.n, worse = order === 0, last = order === m.colours.length - 1;
    var share = pct(m.counts[k], n);
    if (ctx.V.scheme === "quantiles") {
      if (worse) return "Most stressed " + share + " of " + possessive(ctx.V.area) + " areas";
      if (last) return "Least stressed " + share;
      return "Next " + share;
    }
    var base = fmt(m.low[k]) + " to " + fmt(m.high[k]);
    if (worse) return "Most stressed: " + base;
    if (last) return "Least stressed: " + base;
    return base;
  }

  function renderLegend(ctx) {
    var V = ctx.V, m = V.measures[ctx.measure], box = ctx.ui.legend;
    if (!box) return;
    box.textContent = "";
    add(box, el("div", "canrank-legend-title", m.key === "score" ? "Colour: score" : "Colour: " + m.label));
    if (m.key === "score") add(box, el("p", "canrank-sentence", V.score_sentence));
    var t = add(box, el("table", "canrank-classes"));
    var order = [];
    for (var k = 0; k < m.colours.length; k++) order.push(k);
    /* Worst first: the darkest colour is the last class for higher-is-worse, the first otherwise. */
    if (m.direction !== "lower_is_worse") order.reverse();
    order.forEach(function (k, o) {
      var tr = add(t, el("tr"));
      var sw = add(add(tr, el("td")), el("span", "canrank-swatch"));
      sw.style.background = m.colours[k];
      var cell = add(tr, el("td"));
      add(cell, el("span", "canrank-class", classText(ctx, m, k, o)));
      if (V.scheme === "quantiles") {
        add(cell, el("span", "canrank-range", " (" + (m.key === "score" ? "score " : "") + fmt(m.low[k]) + " to " + fmt(m.high[k]) + ")"));
      } else {
        add(cell, el("span", "canrank-range", " (" + count(m.counts[k]) + " areas)"));
      }
    });
    if (m.key !== "score" && m.direction === "lower_is_worse") add(box, el("p", "canrank-hint", "Lower values are worse, so they are darker."));
    if (m.date) add(box, el("p", "canrank-hint", "Data: " + m.date));
    if (m.proxy) add(box, el("p", "canrank-note", "Proxy: " + m.proxy));
    var sym = add(box, el("div", "canrank-symbols"));
    function symbol(cls, text) {
      var d = add(sym, el("div"));
      add(d, el("span", "canrank-sym " + cls)).setAttribute("aria-hidden", "true");
      add(d, document.createTextNode(" " + text));
    }
    symbol("canrank-sym-can", "Community Action Neighbourhood (CAN), numbered; click for its profile");
    add(sym, el("p", "canrank-hint", V.can_order));
    if (ctx.compare) symbol("canrank-sym-changed", "Dashed: no matching CAN in " + V.other);
    symbol("canrank-sym-borough", "Borough boundary");
    if (ctx.G.wards && ctx.G.wards.name.length) symbol("canrank-sym-ward", "Ward boundary (zoom in)");
  }

  function makeCheckbox(ctx, parent, id, text, checked, onChange) {
    var d = add(parent, el("div", "canrank-check"));
    var input = add(d, el("input"));
    input.type = "checkbox";
    input.id = id;
    input.checked = checked;
    var label = add(d, el("label", null, text));
    label.htmlFor = id;
    input.addEventListener("change", function () { onChange(input.checked); });
    return input;
  }

  function buildLayers(ctx, parent) {
    var V = ctx.V, pre = "canrank-" + (ctx.idx + 1) + "-";
    var fs = add(parent, el("fieldset", "canrank-fieldset"));
    add(fs, el("legend", null, "Colour areas by"));
    ctx.ui.measureRadios = V.measures.map(function (m, k) {
      var d = add(fs, el("div", "canrank-check"));
      var r = add(d, el("input"));
      r.type = "radio";
      r.name = pre + "measure";
      r.id = pre + "measure-" + k;
      r.checked = k === ctx.measure;
      var lab = add(d, el("label", null, m.key === "score" ? "Score (all indicators)" : m.label));
      lab.htmlFor = r.id;
      r.addEventListener("change", function () { if (r.checked) NS.setMeasure(ctx, k); });
      return r;
    });
    var fs2 = add(parent, el("fieldset", "canrank-fieldset"));
    add(fs2, el("legend", null, "Show"));
    makeCheckbox(ctx, fs2, pre + "show-cans", "CANs (outlines and numbers)", true, function (on) {
      ctx.show.cans = on; zoomVisibility(ctx); layoutLabels(ctx);
    });
    makeCheckbox(ctx, fs2, pre + "show-boroughs", "Boroughs", true, function (on) {
      ctx.show.boroughs = on; zoomVisibility(ctx);
    });
    if (ctx.G.wards && ctx.G.wards.name.length) {
      makeCheckbox(ctx, fs2, pre + "show-wards", "Wards (when zoomed in)", true, function (on) {
        ctx.show.wards = on; zoomVisibility(ctx);
      });
    }
    makeCheckbox(ctx, fs2, pre + "show-streets", "Street map (online, from OpenStreetMap)", false, function (on) {
      NS.setStreets(ctx, on);
    });
  }

  /* The optional street map: created the first time it is switched on, so the page makes no
   * network request unless the reader asks for it. */
  NS.setStreets = function (ctx, on) {
    if (on && !ctx.layers.streets) {
      ctx.layers.streets = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", { maxZoom: 19 });
    }
    if (on) {
      ctx.layers.streets.addTo(ctx.map);
      ctx.layers.lsoa.eachLayer(function (l) { l.setStyle({ fillOpacity: 0.45 }); });
    } else if (ctx.layers.streets) {
      ctx.map.removeLayer(ctx.layers.streets);
      ctx.layers.lsoa.eachLayer(function (l) { l.setStyle({ fillOpacity: 0.78 }); });
    }
    ctx.ui.osm.hidden = !on;
  };

  function buildChrome(ctx) {
    var V = ctx.V, map = ctx.map, container = map.getContainer(), ui = ctx.ui;
    var pre = "canrank-" + (ctx.idx + 1) + "-";
    /* First in the container, so the key and search come before the map's markers in Tab order. */
    var panel = stop(container.insertBefore(el("div", "canrank-panel"), container.firstChild));
    panel.id = pre + "panel";
    var head = add(panel, el("div", "canrank-panel-head"));
    var toggle = add(head, el("button", "canrank-toggle", "Hide"));
    toggle.type = "button";
    toggle.setAttribute("aria-controls", pre + "panel-body");
    var title = add(head, el(ctx.idx === 0 ? "h1" : "h2", "canrank-title", V.title));
    title.id = pre + "title";
    if (ctx.compare) {
      var nChanged = V.cans.filter(function (c) { return c.changed; }).length;
      add(panel, el("p", "canrank-compare-hint", "Pink dashed = no match in " + (V.other_short || V.other) +
        ": " + nChanged + " of " + V.cans.length + " CANs"));
    }
    var body = add(panel, el("div", "canrank-panel-body"));
    body.id = pre + "panel-body";
    if (ctx.compare && V.compare_note) add(body, el("p", "canrank-compare-note", V.compare_note));
    if (V.notes.length) {
      var det = add(body, el("details", "canrank-notes"));
      add(det, el("summary", null, V.notes.length === 1 ? "1 note on the data" : V.notes.length + " notes on the data (proxies, changes)"));
      V.notes.forEach(function (n) { add(det, el("p", "canrank-note", n)); });
    }
    ui.legend = add(body, el("div", "canrank-legend"));
    ui.legend.setAttribute("aria-live", "polite");
    buildLayers(ctx, body);
    var links = add(body, el("div", "canrank-links"));
    var about = add(links, el("a", "canrank-link", "About this map"));
    about.href = "#" + pre + "about";
    var list = add(links, el("a", "canrank-link", "List of CANs"));
    list.href = "#" + pre + "cans";
    ui.panel = panel; ui.toggle = toggle; ui.body = body;
    toggle.addEventListener("click", function () { setCollapsed(ctx, !panel.classList.contains("canrank-collapsed")); });
    var box = rectOf(container);
    setCollapsed(ctx, ctx.compare || box.width < NARROW || box.height < 500);
    renderLegend(ctx);
    buildSearch(ctx);
    var attr = stop(add(container, el("div", "canrank-attribution")));
    add(attr, el("span", null, V.attribution));
    ui.osm = add(attr, el("span", null, "; street map \u00a9 OpenStreetMap contributors"));
    ui.osm.hidden = true;
    ui.attribution = attr;
    ui.zoom = container.querySelector(".leaflet-control-zoom");
    var live = add(container, el("div", "canrank-live"));
    live.setAttribute("aria-live", "polite");
    ui.live = live;
  }

  /* ---------- search ---------- */

  function norm(s) { return String(s).toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, ""); }

  function searchIndex(ctx) {
    if (ctx.index) return ctx.index;
    var G = ctx.G, V = ctx.V, out = [];
    V.cans.forEach(function (c) {
      out.push({ kind: "can", id: c.id, text: norm("can " + c.id + " " + c.name), label: "CAN " + c.id + ": " + c.name, sub: "CAN" });
    });
    G.boroughs.name.forEach(function (n, j) { out.push({ kind: "borough", id: j, text: norm(n), label: n, sub: "Borough" }); });
    (G.wards ? G.wards.name : []).forEach(function (n, j) {
      var b = G.wards.borough[j] >= 0 ? G.boroughs.name[G.wards.borough[j]] : "";
      out.push({ kind: "ward", id: j, text: norm(n), label: n, sub: "Ward" + (b ? ", " + b : "") });
    });
    for (var i = 0; i < G.lsoa.code.length; i++) {
      out.push({ kind: "lsoa", id: i, text: norm(G.lsoa.name[i] + " " + G.lsoa.code[i]), label: G.lsoa.name[i] + " (" + G.lsoa.code[i] + ")", sub: "Area" });
    }
    ctx.index = out;
    return out;
  }

  NS.search = function (ctx, query) {
    var q = norm(query).trim();
    if (!q) return [];
    var hits = [];
    searchIndex(ctx).forEach(function (e) {
      var at = e.text.indexOf(q);
      if (at < 0) return;
      var rank = (at === 0 ? 0 : 2) + (e.text === q ? -1 : 0) + { can: 0, borough: 0.1, ward: 0.2, lsoa: 0.3 }[e.kind];
      hits.push({ e: e, rank: rank });
    });
    hits.sort(function (a, b) { return a.rank - b.rank || (a.e.label < b.e.label ? -1 : a.e.label > b.e.label ? 1 : 0); });
    return hits.slice(0, 8).map(function (h) { return h.e; });
  };

  function announce(ctx, text) { if (ctx.ui.live) ctx.ui.live.textContent = text; }

  NS.go = function (ctx, e) {
    var G = ctx.G, map = ctx.map, opts = { animate: false, maxZoom: 16 };
    if (map.closePopup) map.closePopup();
    if (ctx.ui.placeTip) { map.removeLayer(ctx.ui.placeTip); ctx.ui.placeTip = null; }
    if (ctx.ui.foundArea) { ctx.ui.foundArea.closeTooltip(); ctx.ui.foundArea = null; }
    if (e.kind === "lsoa") {
      var lyr = ctx.lsoaByIndex[e.id];
      map.fitBounds(lyr.getBounds(), Object.assign({ padding: [40, 40] }, opts));
      lyr.openTooltip(lyr.getCenter());
      ctx.ui.foundArea = lyr;
      if (lyr.getTooltip()) clampTooltip(lyr.getTooltip());
      announce(ctx, "Showing area " + e.label);
    } else if (e.kind === "can") {
      var c = ctx.byCan[e.id];
      map.fitBounds(boundsOf(c.bounds), Object.assign({ padding: [30, 30] }, opts));
      NS.openCan(ctx, c.id, L.latLng(c.label[1], c.label[0]));
      announce(ctx, "Showing CAN " + c.id + ": " + c.name);
    } else {
      var W = e.kind === "ward" ? G.wards : G.boroughs;
      map.fitBounds(boundsOf(W.bounds[e.id]), Object.assign({ padding: [20, 20] }, opts));
      var p = W.label[e.id], tipBox = el("div", "canrank-tip");
      add(tipBox, el("div", "canrank-tip-title", e.label));
      add(tipBox, el("div", "canrank-tip-place", e.sub));
      ctx.ui.placeTip = L.tooltip({ permanent: true, direction: "top", className: "canrank-tooltip canrank-place-tip" })
        .setLatLng([p[1], p[0]]).setContent(tipBox);
      ctx.ui.placeTip.addTo(map);
      clampTooltip(ctx.ui.placeTip);
      announce(ctx, "Showing " + e.kind + " " + e.label + (e.kind === "ward" ? " (" + e.sub + ")" : ""));
    }
  };

  function buildSearch(ctx) {
    var map = ctx.map, container = map.getContainer(), pre = "canrank-" + (ctx.idx + 1) + "-";
    var wrap = stop(container.insertBefore(el("div", "canrank-search"), ctx.ui.panel.nextSibling));
    wrap.setAttribute("role", "search");
    var label = add(wrap, el("label", "canrank-visually-hidden", "Search for an area (name or LSOA code), ward, borough or CAN"));
    label.htmlFor = pre + "search";
    var input = add(wrap, el("input", "canrank-search-input"));
    input.id = pre + "search";
    input.type = "search";
    input.placeholder = "Find area, ward, CAN\u2026";
    input.autocomplete = "off";
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", pre + "search-results");
    var list = add(wrap, el("ul", "canrank-search-results"));
    list.id = pre + "search-results";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Search results");
    list.hidden = true;
    var results = [], active = -1;
    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant"); active = -1; }
    function choose(e) { close(); input.value = e.label; NS.go(ctx, e); }
    function highlight(j) {
      active = j;
      Array.prototype.forEach.call(list.children, function (li, k) { li.setAttribute("aria-selected", k === j ? "true" : "false"); });
      if (j >= 0) input.setAttribute("aria-activedescendant", list.children[j].id);
    }
    input.addEventListener("input", function () {
      results = NS.search(ctx, input.value);
      list.textContent = "";
      results.forEach(function (e, j) {
        var li = add(list, el("li", "canrank-search-result"));
        li.id = pre + "result-" + j;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        add(li, el("span", "canrank-result-label", e.label));
        add(li, el("span", "canrank-result-kind", " " + e.sub));
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(e); });
      });
      if (!results.length && input.value.trim()) {
        var none = add(list, el("li", "canrank-search-none", "No match"));
        none.setAttribute("role", "option");
        none.setAttribute("aria-disabled", "true");
      }
      list.hidden = !input.value.trim();
      input.setAttribute("aria-expanded", list.hidden ? "false" : "true");
      active = -1;
    });
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "ArrowDown" && results.length) { ev.preventDefault(); highlight(Math.min(active + 1, results.length - 1)); }
      else if (ev.key === "ArrowUp" && results.length) { ev.preventDefault(); highlight(Math.max(active - 1, 0)); }
      else if (ev.key === "Enter") { ev.preventDefault(); if (results.length) choose(results[Math.max(active, 0)]); }
      else if (ev.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    ctx.ui.search = wrap;
    ctx.ui.searchInput = input;
  }

  /* ---------- the text alternative below the map ---------- */

  function buildTextAlternative(ctx) {
    var V = ctx.V, G = ctx.G, host = document.getElementById(ctx.cfg.text);
    if (!host) return;
    var pre = "canrank-" + (ctx.idx + 1) + "-";
    var about = add(host, el("section", "canrank-about"));
    about.id = pre + "about";
    about.setAttribute("aria-labelledby", pre + "about-h");
    var h = add(about, el("h2", null, "About this map" + (ctx.compare ? ": " + V.scenario : "")));
    h.id = pre + "about-h";
    h.tabIndex = -1;
    var back = add(about, el("a", "canrank-back", "Back to the map"));
    back.href = "#" + ctx.cfg.el;
    add(about, el("p", null, V.score_sentence));
    V.about.forEach(function (t) { add(about, el("p", null, t)); });
    if (V.compare_note) add(about, el("p", null, V.compare_note));
    var schemes = {
      quantiles: "Colours split the areas into groups of equal size (quantiles)",
      fisher_jenks: "Colours group areas with similar values (natural breaks, Fisher-Jenks)",
      equal_interval: "Colours split the range of values into equal steps"
    };
    add(about, el("p", null, (schemes[V.scheme] || "Colours group the areas") + "; darker means more stressed. Colour scheme: " + V.palette + " (matplotlib / ColorBrewer)."));
    add(about, el("h3", null, "Data and dates"));
    var ul = add(about, el("ul"));
    V.measures.slice(1).forEach(function (m) {
      add(ul, el("li", null, m.label + ": " + (m.date || "date not stated") + (m.proxy ? ". Proxy: " + m.proxy : "")));
    });
    if (V.notes.length) {
      add(about, el("h3", null, "Notes"));
      var nl = add(about, el("ul"));
      V.notes.forEach(function (n) { add(nl, el("li", null, n)); });
    }
    if (V.selection_status) add(about, el("p", null, "Selection: " + V.selection_status));
    add(about, el("h3", null, "Attribution"));
    add(about, el("p", null, V.attribution));
    add(about, el("p", null, "The optional street map is off by default; switched on, it loads map images from OpenStreetMap (\u00a9 OpenStreetMap contributors)."));

    var sec = add(host, el("section", "canrank-cans"));
    sec.id = pre + "cans";
    sec.setAttribute("aria-labelledby", pre + "cans-h");
    var h2 = add(sec, el("h2", null, "Community Action Neighbourhoods" + (ctx.compare ? ": " + V.scenario : "")));
    h2.id = pre + "cans-h";
    h2.tabIndex = -1;
    var back2 = add(sec, el("a", "canrank-back", "Back to the map"));
    back2.href = "#" + ctx.cfg.el;
    add(sec, el("p", null, V.can_order));
    var scroller = add(sec, el("div", "canrank-table-scroll"));
    scroller.tabIndex = 0;
    scroller.setAttribute("role", "region");
    scroller.setAttribute("aria-label", "Table of CANs (scrolls sideways on small screens)");
    var t = add(scroller, el("table", "canrank-can-table"));
    add(t, el("caption", null, V.cans.length + " CANs in scenario " + V.scenario + " (ranks are out of " + count(V.n) + " areas; 1 = most stressed)"));
    var head = add(add(t, el("thead")), el("tr"));
    var cols = ["No.", "Name", "Boroughs", "Residents", "Areas", "Mean score", "Most stressed area's rank"];
    if (ctx.compare) cols.push("Match in " + V.other);
    cols.forEach(function (c) { add(head, el("th", null, c)).setAttribute("scope", "col"); });
    var tb = add(t, el("tbody"));
    V.cans.forEach(function (c) {
      var tr = add(tb, el("tr"));
      if (c.changed) tr.className = "canrank-row-changed";
      add(tr, el("td", null, c.id));
      var name = add(tr, el("th"));
      name.setAttribute("scope", "row");
      var btn = add(name, el("button", "canrank-linkbutton", c.name));
      btn.type = "button";
      btn.setAttribute("aria-label", "Show CAN " + c.id + ", " + c.name + ", on the map");
      btn.addEventListener("click", function () {
        ctx.map.getContainer().scrollIntoView();
        NS.go(ctx, { kind: "can", id: c.id });
        ctx.map.getContainer().focus();
      });
      add(tr, el("td", null, c.boroughs));
      add(tr, el("td", "canrank-num", count(c.population)));
      add(tr, el("td", "canrank-num", count(c.n_lsoas)));
      add(tr, el("td", "canrank-num", fmt(c.mean_score)));
      add(tr, el("td", "canrank-num", count(c.best_rank) + " of " + count(V.n)));
      if (ctx.compare) add(tr, el("td", null, c.match ? "CAN " + c.match : "none"));
    });
    if (!V.cans.length) add(sec, el("p", null, "No CANs were selected."));
    void G;
  }

  /* ---------- two maps in step ---------- */

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

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", NS.start);
  else NS.start();
})();
