// The zonepolicy report's behaviour: details of a matrix cell or a graph node on hover and click,
// a zone filter for the matrix. The page is complete without it; this only adds interaction.
// Policy text reaches the page only through textContent, never as markup.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("zp-data").textContent);
  var zones = data.zones;
  var panel = document.getElementById("zp-details");
  var pinned = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function zoneLine(z) {
    return z[0] + (z[1] ? " " + z[1] : "") + " (" + z[2] + ", level " + (z[3] === null ? "-" : z[3]) + ")";
  }
  function flowItem(f) {
    var li = el("li", f[4] ? "" : "off");
    li.appendChild(el("code", "", f[0]));
    li.appendChild(document.createTextNode(" " + f[2] + " "));
    if (f[3]) { li.appendChild(el("span", "where", "(" + f[3] + ")")); }
    if (!f[4]) { li.appendChild(el("span", "where", f[1] === "allow" ? " — overridden by a deny here" : " — matches nothing allowed")); }
    return li;
  }
  function showCell(i, j) {
    var c = data.cells[i + "," + j] || null;
    clear(panel);
    panel.appendChild(el("h3", "", zones[i][0] + " → " + zones[j][0]));
    panel.appendChild(el("div", "where", "from " + zoneLine(zones[i])));
    panel.appendChild(el("div", "where", "to " + zoneLine(zones[j])));
    var allowed = c ? c.t : "-";
    panel.appendChild(el("p", "", "allowed: " + (allowed === "-" ? "nothing" : allowed === "all" ? "every packet" : allowed)));
    if (c && c.p) { panel.appendChild(el("p", "where", "* only for some addresses of the two zones")); }
    if (c && c.st) { panel.appendChild(el("p", "", "unmatched packets allowed by the " + c.st + " stance")); }
    var flows = c ? c.f : [];
    panel.appendChild(el("h4", "", "flows (" + flows.length + ")"));
    if (flows.length) {
      var ul = el("ul");
      flows.forEach(function (f) { ul.appendChild(flowItem(f)); });
      panel.appendChild(ul);
    } else {
      panel.appendChild(el("p", "none", "no flow names this pair"));
    }
    var fds = c ? c.fd : [];
    if (fds && fds.length) {
      panel.appendChild(el("h4", "", "findings (" + fds.length + ")"));
      var ul2 = el("ul");
      fds.forEach(function (d) {
        var li = el("li");
        li.appendChild(el("span", "badge " + d[0], d[0]));
        li.appendChild(document.createTextNode(" " + d[1] + " " + d[2] + " "));
        if (d[3]) { li.appendChild(el("span", "where", "(" + d[3] + ")")); }
        ul2.appendChild(li);
      });
      panel.appendChild(ul2);
    }
  }
  function showZone(name) {
    var i = data.index[name];
    clear(panel);
    panel.appendChild(el("h3", "", name));
    panel.appendChild(el("div", "where", zoneLine(zones[i])));
    [["sends to", function (k) { return k[0] === i && k[1] !== i; }, 1],
     ["receives from", function (k) { return k[1] === i && k[0] !== i; }, 0]].forEach(function (side) {
      var keys = Object.keys(data.cells).map(function (k) { return k.split(",").map(Number); })
        .filter(side[1]).filter(function (k) { return data.cells[k.join(",")].t !== "-"; })
        .sort(function (a, b) { return a[side[2]] - b[side[2]]; });
      panel.appendChild(el("h4", "", side[0] + " (" + keys.length + ")"));
      var ul = el("ul");
      keys.forEach(function (k) {
        ul.appendChild(el("li", "", zones[k[side[2]]][0] + ": " + data.cells[k.join(",")].t));
      });
      panel.appendChild(ul);
    });
  }

  // ---- matrix
  var table = document.getElementById("zp-matrix");
  var selected = null;
  function cellOf(target) {
    while (target && target !== table) {
      if (target.tagName === "TD" && target.hasAttribute("data-i")) { return target; }
      target = target.parentNode;
    }
    return null;
  }
  function headers(td, on) {
    var i = +td.getAttribute("data-i"), j = +td.getAttribute("data-j");
    var row = document.getElementById("zr" + i), col = document.getElementById("zc" + j);
    [row, col].forEach(function (h) { if (h) { h.classList.toggle("hl", on); } });
  }
  if (table) {
    table.addEventListener("mouseover", function (ev) {
      var td = cellOf(ev.target);
      if (!td) { return; }
      headers(td, true);
      if (!pinned) { showCell(+td.getAttribute("data-i"), +td.getAttribute("data-j")); }
    });
    table.addEventListener("mouseout", function (ev) {
      var td = cellOf(ev.target);
      if (td) { headers(td, false); }
    });
    table.addEventListener("click", function (ev) {
      var td = cellOf(ev.target);
      if (!td) { return; }
      if (selected) { selected.classList.remove("sel"); }
      if (selected === td) { selected = null; pinned = null; return; }
      selected = td; pinned = td; td.classList.add("sel");
      showCell(+td.getAttribute("data-i"), +td.getAttribute("data-j"));
    });
  }
  var filter = document.getElementById("zp-filter");
  if (filter && table) {
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toLowerCase();
      var keep = zones.map(function (z) { return !q || (z[0] + " " + z[1]).toLowerCase().indexOf(q) >= 0; });
      Array.prototype.forEach.call(table.querySelectorAll("[data-k]"), function (node) {
        node.classList.toggle("hidden", !keep[+node.getAttribute("data-k")]);
      });
      Array.prototype.forEach.call(table.querySelectorAll("td[data-j]"), function (td) {
        td.classList.toggle("hidden", !keep[+td.getAttribute("data-j")]);
      });
    });
  }

  // ---- graph
  var svg = document.querySelector("svg.zp-graph");
  var nodes = 0, edges = 0;
  if (svg) {
    var edgeList = svg.querySelectorAll("path.zp-edge");
    var nodeList = svg.querySelectorAll("g.zp-node");
    nodes = nodeList.length; edges = edgeList.length;
    var focused = null;
    svg.addEventListener("click", function (ev) {
      var g = ev.target;
      while (g && g !== svg && !(g.classList && g.classList.contains("zp-node"))) { g = g.parentNode; }
      Array.prototype.forEach.call(svg.querySelectorAll(".on, .sel"), function (x) { x.classList.remove("on", "sel"); });
      if (!g || g === svg || g === focused) { svg.classList.remove("focus"); focused = null; return; }
      focused = g;
      var name = g.getAttribute("data-zone");
      svg.classList.add("focus");
      g.classList.add("on", "sel");
      Array.prototype.forEach.call(edgeList, function (p) {
        var a = p.getAttribute("data-from"), b = p.getAttribute("data-to");
        if (a === name || b === name) {
          p.classList.add("on");
          var other = a === name ? b : a;
          Array.prototype.forEach.call(nodeList, function (n) { if (n.getAttribute("data-zone") === other) { n.classList.add("on"); } });
        }
      });
      pinned = g;
      showZone(name);
    });
  }

  var cells = table ? table.querySelectorAll("td[data-i]").length : 0;
  var status = document.getElementById("zp-status");
  if (status) { status.textContent = "interactive: " + cells + " matrix cells, " + nodes + " zones and " + edges + " edges in the graph"; }
  document.documentElement.setAttribute("data-zp-ready", cells + "/" + nodes + "/" + edges);
})();
