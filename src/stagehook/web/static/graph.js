// Drawing the stage graph as SVG: columns by longest path from Start, loops (like
// "reject") drawn around the nodes, every pathway labelled.
import { svg } from "./dom.js";

export const TYPE_NAMES = {
  START: "Start", ANNOTATE: "Annotate", REVIEW: "Review",
  PERCENTAGE_ROUTER: "Percentage router", COMPLETE: "Complete", ARCHIVE: "Archive",
};
export const WEBHOOK_TYPES = new Set(["ANNOTATE", "COMPLETE"]);
const NODE_W = 172, NODE_H = 58, GAP_X = 96, GAP_Y = 34, PAD = 24;

// Redraw ``target`` (an <svg>) for ``stages``; clicking or Enter on a node calls onOpen.
export function drawGraph(target, stages, { openUuid, onOpen }) {
  const find = (uuid) => stages.find((s) => s.uuid === uuid);

  function backEdges() {
    const back = new Set();
    const state = new Map();
    const visit = (uuid) => {
      state.set(uuid, "open");
      (find(uuid).pathways || []).forEach((p, i) => {
        if (!find(p.destination_uuid)) return;
        if (state.get(p.destination_uuid) === "open") back.add(`${uuid}|${i}`);
        else if (!state.has(p.destination_uuid)) visit(p.destination_uuid);
      });
      state.set(uuid, "done");
    };
    const start = stages.find((s) => s.stage_type === "START");
    if (start) visit(start.uuid);
    return { back, reached: state };
  }

  function layout() {
    const { back, reached } = backEdges();
    const level = new Map();
    for (const uuid of reached.keys()) level.set(uuid, 0);
    for (let round = 0; round < stages.length; round += 1) {
      let moved = false;
      for (const s of stages) {
        if (!reached.has(s.uuid)) continue;
        (s.pathways || []).forEach((p, i) => {
          if (back.has(`${s.uuid}|${i}`) || !reached.has(p.destination_uuid)) return;
          if (level.get(p.destination_uuid) < level.get(s.uuid) + 1) {
            level.set(p.destination_uuid, level.get(s.uuid) + 1);
            moved = true;
          }
        });
      }
      if (!moved) break;
    }
    const last = Math.max(0, ...level.values());
    for (const s of stages) if (!level.has(s.uuid)) level.set(s.uuid, last + 1);

    const columns = [];
    for (const s of stages) (columns[level.get(s.uuid)] ??= []).push(s.uuid);
    const row = new Map();
    columns.forEach((uuids, l) => {
      const weight = (uuid) => {
        const from = stages.filter((s) => level.get(s.uuid) < l
          && (s.pathways || []).some((p) => p.destination_uuid === uuid));
        return from.length ? from.reduce((sum, s) => sum + row.get(s.uuid), 0) / from.length : 0;
      };
      uuids.sort((a, b) => weight(a) - weight(b));
      uuids.forEach((uuid, i) => row.set(uuid, i - (uuids.length - 1) / 2));
    });
    const rows = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
    // Loops from the upper half of a column go over the top, the rest underneath.
    let over = 0, under = 0;
    for (const s of stages) {
      (s.pathways || []).forEach((p, i) => {
        if (!level.has(p.destination_uuid)) return;
        const gap = level.get(p.destination_uuid) - level.get(s.uuid);
        const loop = back.has(`${s.uuid}|${i}`) || gap <= 0;
        if (loop && row.get(s.uuid) >= 0) under += 1;
        else if (loop || gap > 1) over += 1;
      });
    }
    const top = PAD + (over ? 24 + over * 12 : 0);
    const middle = top + ((rows - 1) * (NODE_H + GAP_Y)) / 2;
    const pos = new Map();
    for (const [uuid, l] of level) {
      const r = row.get(uuid);
      pos.set(uuid, { x: PAD + l * (NODE_W + GAP_X), y: middle + r * (NODE_H + GAP_Y), level: l, row: r });
    }
    const width = PAD * 2 + columns.length * (NODE_W + GAP_X) - GAP_X;
    const height = top + rows * (NODE_H + GAP_Y) - GAP_Y + PAD + (under ? 24 + under * 14 : 0);
    return { pos, width, height, back };
  }

  function edgeLabel(text, x, y) {
    const group = svg("g", { class: "edge-label-group" });
    const width = text.length * 6.6 + 12;
    group.append(
      svg("rect", { class: "edge-label-bg", x: x - width / 2, y: y - 9, width, height: 18, rx: 9 }),
      svg("text", { class: "edge-label", x, y, "text-anchor": "middle", "dominant-baseline": "central" }, text),
    );
    return group;
  }

  function drawEdges(layer, labels, pos, back) {
    const ys = [...pos.values()].map((p) => p.y);
    const top = Math.min(...ys);
    const bottom = Math.max(...ys) + NODE_H;
    let arcs = 0, loops = 0;
    for (const s of stages) {
      const from = pos.get(s.uuid);
      const count = (s.pathways || []).length;
      (s.pathways || []).forEach((p, i) => {
        const to = pos.get(p.destination_uuid);
        if (!to) return;
        const text = p.percentage !== undefined && p.percentage !== null ? `${p.name} ${p.percentage}%` : p.name;
        let d, lx, ly;
        const looping = back.has(`${s.uuid}|${i}`) || to.level <= from.level;
        if (looping && from.row >= 0) {
          loops += 1;
          const sx = from.x + NODE_W * 0.45, sy = from.y + NODE_H;
          const tx = to.x + NODE_W * 0.55, ty = to.y + NODE_H;
          const drop = bottom + 18 + loops * 14;
          d = `M${sx},${sy} C${sx},${drop} ${tx},${drop} ${tx},${ty + 2}`;
          lx = (sx + tx) / 2; ly = 0.125 * (sy + ty) + 0.75 * drop;
        } else if (!looping && to.level === from.level + 1) {
          const spread = (i - (count - 1) / 2) * 12;
          const sx = from.x + NODE_W, sy = from.y + NODE_H / 2 + spread;
          const tx = to.x, ty = to.y + NODE_H / 2;
          d = `M${sx},${sy} C${sx + GAP_X / 2},${sy} ${tx - GAP_X / 2},${ty} ${tx - 2},${ty}`;
          lx = (sx + tx) / 2; ly = (sy + ty) / 2;
        } else {
          arcs += 1;
          const sx = from.x + NODE_W * (looping ? 0.45 : 0.6), sy = from.y;
          const tx = to.x + NODE_W * (looping ? 0.55 : 0.4), ty = to.y;
          const lift = top - 18 - arcs * 12;
          d = `M${sx},${sy} C${sx},${lift} ${tx},${lift} ${tx},${ty - 2}`;
          lx = (sx + tx) / 2; ly = 0.125 * (sy + ty) + 0.75 * lift;
        }
        layer.append(svg("path", { class: looping ? "edge edge-back" : "edge", d, "marker-end": "url(#arrow)" }));
        labels.append(edgeLabel(text, lx, ly));
      });
    }
  }

  function truncate(text, max) { return text.length > max ? `${text.slice(0, max - 1)}…` : text; }

  function drawNode(layer, s, p) {
    const type = s.stage_type.toLowerCase();
    const hook = WEBHOOK_TYPES.has(s.stage_type) && s.webhook;
    const node = svg("g", {
      class: `node${openUuid === s.uuid ? " open" : ""}`,
      transform: `translate(${p.x},${p.y})`,
      tabindex: "0",
      role: "button",
      "data-stage": s.uuid,
      "data-stage-title": s.title,
      "aria-label": `${s.title}: ${TYPE_NAMES[s.stage_type]} stage${hook ? ", has a webhook" : ""}`,
    });
    node.append(
      svg("rect", { class: "node-box", width: NODE_W, height: NODE_H, rx: 9 }),
      svg("rect", { class: `node-bar type-fill-${type}`, x: 0, y: 10, width: 4, height: NODE_H - 20, rx: 2 }),
      svg("text", { class: "node-title", x: 16, y: 25 }, truncate(s.title, 19)),
      svg("text", { class: "node-type", x: 16, y: 43 }, TYPE_NAMES[s.stage_type]),
    );
    if (hook) node.append(svg("text", { class: "node-hook", x: NODE_W - 12, y: 43, "text-anchor": "end" }, "webhook"));
    node.addEventListener("click", () => onOpen(s.uuid));
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        onOpen(s.uuid);
      }
    });
    layer.append(node);
  }


  const { pos, width, height, back } = layout();
  target.replaceChildren();
  target.setAttribute("viewBox", `0 0 ${width} ${height}`);
  target.setAttribute("width", width);
  target.setAttribute("height", height);
  const defs = svg("defs");
  const marker = svg("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
    markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse",
  });
  marker.append(svg("path", { class: "arrow", d: "M0,0 L10,5 L0,10 z" }));
  defs.append(marker);
  const edges = svg("g"), labels = svg("g"), nodes = svg("g");
  target.append(defs, edges, nodes, labels);
  drawEdges(edges, labels, pos, back);
  for (const s of stages) drawNode(nodes, s, pos.get(s.uuid));
}
