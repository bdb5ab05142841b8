// The image under the labels: zoom and pan, boxes and polygons drawn and edited by
// Annotorious (vendored), points drawn here (Annotorious has no point tool).
//
// Everything inside the "world" element is laid out at the image's natural size and
// scaled with one CSS transform, so zooming never re-renders shapes; Annotorious maps
// pointer positions through its SVG viewBox, which stays correct under the transform.
import "./process-shim.js";
import { createImageAnnotator } from "../vendor/annotorious/annotorious.es.js";
import { svg } from "../dom.js";

const TOOL = { box: "rectangle", polygon: "polygon" };
const POINT_RADIUS = 6;
const MIN_ZOOM = 0.05;
const MAX_ZOOM = 40;

function toPixels(obj, w, h) {
  if (obj.kind === "box") {
    const { x, y, w: bw, h: bh } = obj.geom;
    const geometry = { x: x * w, y: y * h, w: bw * w, h: bh * h };
    geometry.bounds = { minX: geometry.x, minY: geometry.y, maxX: geometry.x + geometry.w, maxY: geometry.y + geometry.h };
    return { type: "RECTANGLE", geometry };
  }
  const points = obj.geom.points.map(([x, y]) => [x * w, y * h]);
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return {
    type: "POLYGON",
    geometry: { points, bounds: { minX: Math.min(...xs), minY: Math.min(...ys), maxX: Math.max(...xs), maxY: Math.max(...ys) } },
  };
}

const clamp01 = (v) => Math.min(1, Math.max(0, v));

// Annotorious selector (pixels) -> normalised geometry, clamped to the image.
export function fromSelector(selector, w, h) {
  if (selector.type === "RECTANGLE") {
    // A rotated rectangle (the handle is hidden, but keep it safe) keeps its bounds.
    const g = selector.geometry.rot
      ? { x: selector.geometry.bounds.minX, y: selector.geometry.bounds.minY,
          w: selector.geometry.bounds.maxX - selector.geometry.bounds.minX,
          h: selector.geometry.bounds.maxY - selector.geometry.bounds.minY }
      : selector.geometry;
    const x = clamp01(g.x / w);
    const y = clamp01(g.y / h);
    return { kind: "box", geom: { x, y, w: clamp01((g.x + g.w) / w) - x, h: clamp01((g.y + g.h) / h) - y } };
  }
  if (selector.type === "POLYGON") {
    return { kind: "polygon", geom: { points: selector.geometry.points.map(([x, y]) => [clamp01(x / w), clamp01(y / h)]) } };
  }
  return null;
}

export class Stage {
  // hooks: {styleOf(objectHash) -> {color}, onShapes(changes), onSelect(hash|null), onPoint(geom), onPointMoved(hash, geom)}
  constructor(view, hooks, { readOnly }) {
    this.view = view;
    this.hooks = hooks;
    this.readOnly = readOnly;
    this.world = view.querySelector("[data-world]");
    this.zoom = 1;
    this.pan = { x: 0, y: 0 };
    this.tool = null;
    this.anno = null;
    this.points = new Map();
    this.selectedPoint = null;
    this.spaceDown = false;
    this.bindPanZoom();
  }

  // Show a decoded <img>; the previous image's annotator is torn down.
  show(img, objects) {
    if (this.anno) this.anno.destroy();
    this.world.replaceChildren();
    this.width = img.naturalWidth;
    this.height = img.naturalHeight;
    img.width = this.width;
    img.height = this.height;
    img.alt = "the image to label";
    img.draggable = false;
    this.world.append(img);
    this.anno = createImageAnnotator(img, {
      drawingEnabled: false,
      drawingMode: "drag",
      userSelectAction: this.readOnly ? "NONE" : "EDIT",
      style: (annotation, state) => this.styleFor(annotation, state),
    });
    this.anno.state.store.observe((event) => this.hooks.onShapes(event.changes), { origin: "LOCAL" });
    this.anno.on("selectionChanged", (selected) => {
      if (selected.length) this.selectPoint(null, false);
      this.hooks.onSelect(selected[0]?.id ?? null);
    });
    this.pointLayer = svg("svg", {
      class: "point-layer", viewBox: `0 0 ${this.width} ${this.height}`, "data-point-layer": "",
      width: this.width, height: this.height,
    });
    this.pointLayer.addEventListener("pointerdown", (event) => this.pointerOnPoints(event));
    this.world.append(this.pointLayer);
    this.setTool(this.tool);
    this.load(objects);
    this.fit();
  }

  // No image to show (a data unit that only has JSON labels).
  clear() {
    this.anno?.destroy();
    this.anno = null;
    this.world.replaceChildren();
    this.points.clear();
  }

  // Replace every shape (load, undo, redo): nothing here is reported back as an edit.
  load(objects) {
    if (!this.anno) return;
    const w = this.width;
    const h = this.height;
    const shapes = objects.filter((o) => o.kind !== "point").map((o) => ({
      id: o.objectHash, bodies: [], target: { annotation: o.objectHash, selector: toPixels(o, w, h) },
    }));
    this.anno.setAnnotations(shapes, true);
    this.points.clear();
    for (const o of objects.filter((item) => item.kind === "point")) this.points.set(o.objectHash, o.geom);
    this.drawPoints();
  }

  styleFor(annotation, state) {
    const color = this.hooks.styleOf(annotation.id)?.color ?? "#ffffff";
    return { fill: color, fillOpacity: state?.selected ? 0.3 : 0.12, stroke: color, strokeWidth: state?.selected ? 3 : 2 };
  }

  // Colours follow the class; a changed class repaints (a new function makes Svelte re-run it).
  restyle() {
    this.anno?.setStyle((annotation, state) => this.styleFor(annotation, state));
    this.drawPoints();
  }

  drawPoints() {
    if (!this.pointLayer) return;
    const r = POINT_RADIUS / this.zoom;
    this.pointLayer.classList.toggle("placing", this.tool === "point");
    const nodes = [];
    for (const [hash, p] of this.points) {
      const color = this.hooks.styleOf(hash)?.color ?? "#ffffff";
      const selected = hash === this.selectedPoint;
      nodes.push(svg("circle", {
        cx: p.x * this.width, cy: p.y * this.height, r: selected ? r * 1.5 : r,
        fill: color, stroke: selected ? "#000" : "#fff", "stroke-width": 2 / this.zoom,
        "data-point": hash, class: "point",
      }));
    }
    this.pointLayer.replaceChildren(...nodes);
  }

  setTool(kind) {
    this.tool = this.readOnly ? null : kind;
    if (!this.anno) return;
    this.anno.cancelDrawing?.();
    if (TOOL[this.tool]) {
      // A selected shape hides the drawing tool: drop the selection so the next
      // press draws. Boxes are dragged; polygons are clicked vertex by vertex.
      this.anno.cancelSelected();
      this.selectPoint(null, false);
      this.anno.setDrawingMode(this.tool === "polygon" ? "click" : "drag");
      this.anno.setDrawingTool(TOOL[this.tool]);
      this.anno.setDrawingEnabled(true);
    } else {
      this.anno.setDrawingEnabled(false);
    }
    this.view.dataset.mode = this.tool ?? "select";
    this.drawPoints();
  }

  select(hash) {
    if (!this.anno) return;
    if (this.points.has(hash)) {
      this.anno.cancelSelected();
      this.selectPoint(hash, true);
    } else if (hash) {
      this.selectPoint(null, false);
      this.anno.setSelected(hash, !this.readOnly);
    } else {
      this.anno.cancelSelected();
      this.selectPoint(null, true);
    }
  }

  selectPoint(hash, report) {
    this.selectedPoint = hash;
    this.drawPoints();
    if (report) this.hooks.onSelect(hash);
  }

  // Point tool: a click places a point. Any tool: a point can be picked and dragged.
  pointerOnPoints(event) {
    if (event.button !== 0 || this.readOnly || this.spaceDown) return;
    const hit = event.target.closest?.("[data-point]")?.dataset.point;
    const at = () => {
      const box = this.pointLayer.getBoundingClientRect();
      return { x: clamp01((event.clientX - box.left) / box.width), y: clamp01((event.clientY - box.top) / box.height) };
    };
    if (!hit) {
      if (this.tool !== "point") return;
      event.stopPropagation();
      this.hooks.onPoint(at());
      return;
    }
    event.stopPropagation();
    this.anno.cancelSelected();
    this.selectPoint(hit, true);
    const start = { x: event.clientX, y: event.clientY };
    let moved = false;
    const move = (e) => {
      event = e;
      moved = moved || Math.hypot(e.clientX - start.x, e.clientY - start.y) > 2;
      if (moved) { this.points.set(hit, at()); this.drawPoints(); }
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      if (moved) this.hooks.onPointMoved(hit, this.points.get(hit));
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  // ------------------------------------------------------------ zoom and pan
  apply() {
    this.world.style.transform = `translate(${this.pan.x}px, ${this.pan.y}px) scale(${this.zoom})`;
    this.drawPoints();
  }

  fit() {
    const box = this.view.getBoundingClientRect();
    this.zoom = Math.min(box.width / this.width, box.height / this.height) || 1;
    this.pan = { x: (box.width - this.width * this.zoom) / 2, y: (box.height - this.height * this.zoom) / 2 };
    this.apply();
  }

  zoomBy(factor, clientX, clientY) {
    const box = this.view.getBoundingClientRect();
    const cx = (clientX ?? box.left + box.width / 2) - box.left;
    const cy = (clientY ?? box.top + box.height / 2) - box.top;
    const zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, this.zoom * factor));
    this.pan = { x: cx - ((cx - this.pan.x) * zoom) / this.zoom, y: cy - ((cy - this.pan.y) * zoom) / this.zoom };
    this.zoom = zoom;
    this.apply();
  }

  bindPanZoom() {
    this.view.addEventListener("wheel", (event) => {
      event.preventDefault();
      this.zoomBy(Math.exp(-event.deltaY * 0.0015), event.clientX, event.clientY);
    }, { passive: false });
    // Space + drag or the middle button pans in any tool; with no tool, dragging the
    // image (not a shape) pans too.
    this.view.addEventListener("pointerdown", (event) => {
      const onShape = event.target.closest?.(".a9s-annotation, .a9s-handle, [data-point]");
      const pans = this.spaceDown || event.button === 1 || (event.button === 0 && !this.tool && !onShape);
      if (!pans) return;
      event.preventDefault();
      event.stopPropagation();
      const start = { x: event.clientX - this.pan.x, y: event.clientY - this.pan.y };
      const origin = { x: event.clientX, y: event.clientY };
      let moved = false;
      this.view.classList.add("panning");
      const move = (e) => {
        moved = moved || Math.hypot(e.clientX - origin.x, e.clientY - origin.y) > 3;
        this.pan = { x: e.clientX - start.x, y: e.clientY - start.y };
        this.apply();
      };
      const up = () => {
        this.view.classList.remove("panning");
        if (!moved && !this.spaceDown && event.button === 0) this.select(null);
        window.removeEventListener("pointermove", move);
        window.removeEventListener("pointerup", up);
      };
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", up);
    }, true);
    window.addEventListener("keydown", (event) => { if (event.key === " " && !isTyping(event)) { this.spaceDown = true; event.preventDefault(); } });
    window.addEventListener("keyup", (event) => { if (event.key === " ") this.spaceDown = false; });
    window.addEventListener("resize", () => { if (this.width) this.fit(); });
  }
}

// Keys go to the field when the person types in one (radios and checkboxes take no text).
export function isTyping(event) {
  return event.target instanceof Element
    && event.target.matches('input:not([type="radio"]):not([type="checkbox"]), textarea, select, [contenteditable]');
}
