// The graph page: search a person or an account, draw its ego network with Cytoscape.js (installed
// from the npm registry, served by the API), click a node to open its own network.
// The key stays in this tab (sessionStorage); a "#key=..." fragment (never sent to the server) sets it.
"use strict";

const COLOURS = {
  company: "#d62728",
  customer: "#2ca02c",
  influencer: "#ff7f0e",
  account: "#1f77b4",
  person: "#9467bd",
};

const state = { key: "", center: null, nodes: new Map(), edges: [] };
const $ = (id) => document.getElementById(id);

function status(text, error = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", error);
}

async function api(path) {
  if (!state.key) throw new Error("enter an API key first");
  const res = await fetch(path, { headers: { "X-API-Key": state.key } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || body);
    throw new Error(`${res.status}: ${detail}`);
  }
  return body;
}

// node size from current influence: log-scaled so one star does not dwarf the rest
function nodeSize(influence) {
  return Math.min(90, 18 + 14 * Math.log1p(Math.max(0, influence || 0)));
}

const cy = cytoscape({
  container: $("cy"),
  wheelSensitivity: 0.3,
  // a small network is fitted no larger than twice its size: labels stay readable, not 40 px high
  maxZoom: 2,
  style: [
    {
      selector: "node",
      style: {
        "background-color": "data(colour)",
        width: "data(size)",
        height: "data(size)",
        label: "data(name)",
        "font-size": 10,
        "text-valign": "bottom",
        "text-margin-y": 3,
        "text-max-width": 120,
        "text-wrap": "ellipsis",
      },
    },
    { selector: "node.center", style: { "border-width": 4, "border-color": "#222" } },
    {
      selector: "edge",
      style: {
        width: "data(width)",
        "line-color": "#bbb",
        "target-arrow-color": "#bbb",
        "target-arrow-shape": "triangle",
        "curve-style": "bezier",
        "arrow-scale": 0.7,
      },
    },
  ],
});

function draw(ego) {
  state.center = ego.center;
  state.nodes = new Map(ego.nodes.map((n) => [n.id, n]));
  state.edges = ego.edges;
  cy.elements().remove();
  cy.add(
    ego.nodes.map((n) => ({
      group: "nodes",
      data: {
        id: n.id,
        name: n.name || n.id,
        kind: n.kind,
        influence: n.influence,
        depth: n.depth,
        colour: COLOURS[n.kind] || COLOURS.account,
        size: n.kind === "company" ? 44 : nodeSize(n.influence),
      },
      classes: n.id === ego.center ? "center" : "",
    })),
  );
  cy.add(
    ego.edges.map((e, i) => ({
      group: "edges",
      data: {
        id: `e${i}`,
        source: e.source,
        target: e.target,
        type: e.type,
        width: Math.min(6, 1 + Math.log1p(e.count || 1)),
      },
    })),
  );
  const maxDepth = Math.max(1, ...ego.nodes.map((n) => n.depth));
  cy.layout({
    name: "concentric",
    concentric: (node) => maxDepth - node.data("depth"),
    levelWidth: () => 1,
    minNodeSpacing: 12,
    animate: false,
  }).run();
  showDetails(ego.center);
  document.body.dataset.center = ego.center;
  document.body.dataset.drawn = String(ego.nodes.length);
  status(
    `${ego.nodes.length} nodes, ${ego.edges.length} edges around ${state.nodes.get(ego.center).name}` +
      (ego.truncated ? " (capped)" : ""),
  );
}

function showDetails(id) {
  const n = state.nodes.get(id);
  if (!n) return;
  $("details").hidden = false;
  $("details-name").textContent = n.name || n.id;
  const props = $("details-props");
  props.replaceChildren();
  const fields = [
    ["id", n.id],
    ["kind", n.kind],
    ["network", n.network || (n.networks || []).join(", ")],
    ["influence", (n.influence || 0).toFixed(2)],
  ];
  for (const [k, v] of fields) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v == null ? "" : String(v);
    props.append(dt, dd);
  }
  const list = $("neighbours");
  list.replaceChildren();
  const seen = new Set();
  for (const e of state.edges) {
    const other = e.source === id ? e.target : e.target === id ? e.source : null;
    if (other === null || seen.has(other) || !state.nodes.has(other)) continue;
    seen.add(other);
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.id = other;
    b.textContent = `${state.nodes.get(other).name} (${e.type})`;
    b.addEventListener("click", () => openNode(other));
    li.append(b);
    list.append(li);
  }
}

async function openNode(id) {
  status(`loading ${id} ...`);
  try {
    const depth = $("depth").value;
    draw(await api(`/graph/ego?id=${encodeURIComponent(id)}&depth=${encodeURIComponent(depth)}`));
  } catch (err) {
    status(String(err.message || err), true);
  }
}

async function search(q) {
  const list = $("results");
  list.replaceChildren();
  try {
    const { results } = await api(`/graph/search?q=${encodeURIComponent(q)}`);
    if (!results.length) {
      status(`nothing found for ${q}`);
      return;
    }
    for (const r of results) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.id = r.id;
      b.textContent = `${r.display_name || r.handle || r.id} (${r.label}${r.network ? ", " + r.network : ""})`;
      b.addEventListener("click", () => openNode(r.id));
      li.append(b);
      list.append(li);
    }
    status(`${results.length} found: pick one`);
    if (results.length === 1) await openNode(results[0].id);
  } catch (err) {
    status(String(err.message || err), true);
  }
}

async function useKey(key) {
  state.key = key.trim();
  sessionStorage.setItem("groundswell-key", state.key);
  try {
    const who = await api("/whoami");
    $("who").textContent = `${who.name} (${who.role})`;
    status("Key accepted. Search a person or an account.");
  } catch (err) {
    $("who").textContent = "";
    status(String(err.message || err), true);
  }
}

cy.on("tap", "node", (evt) => {
  const id = evt.target.id();
  if (id === state.center) showDetails(id);
  else openNode(id);
});

$("key-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  useKey($("key").value);
});
$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = $("q").value.trim();
  if (q) search(q);
});

const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
if (fromHash) history.replaceState(null, "", location.pathname);
const initial = fromHash || sessionStorage.getItem("groundswell-key");
if (initial) useKey(initial);

window.groundswell = { cy, state, openNode, search };
