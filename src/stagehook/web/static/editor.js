// The workflow editor: an SVG drawing of the stage graph and a pop-up per stage.
// Every rule (valid graphs, webhook stages, URL shapes) is the server's: this file only
// edits a draft, asks the server, and shows what it answers. Nothing is stored until Save.
"use strict";

(() => {
  const root = document.querySelector("[data-editor]");
  if (!root) return;

  const cfg = JSON.parse(document.getElementById("editor-config").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const SVG = "http://www.w3.org/2000/svg";
  const NODE_W = 172, NODE_H = 58, GAP_X = 96, GAP_Y = 34, PAD = 24, ARC = 46;
  const TYPE_NAMES = {
    START: "Start", ANNOTATE: "Annotate", REVIEW: "Review",
    PERCENTAGE_ROUTER: "Percentage router", COMPLETE: "Complete", ARCHIVE: "Archive",
  };
  const WEBHOOK_TYPES = new Set(["ANNOTATE", "COMPLETE"]);
  const FIXED_TYPES = new Set(["START", "COMPLETE"]);

  const graph = root.querySelector("[data-graph]");
  const popup = root.querySelector("[data-popup]");
  const statusEl = root.querySelector("[data-status]");
  const errorEl = root.querySelector("[data-error]");
  const saveBtn = root.querySelector("[data-save]");
  const discardBtn = root.querySelector("[data-discard]");
  const form = root.closest("form[data-create-project]");

  let draft = clone(cfg.workflow);
  let pristine = clone(cfg.workflow);
  let baseline = canonical(pristine);
  let saved = cfg.saved || {};
  let openUuid = null;
  let editingHook = false;
  let leaving = false;
  const secrets = {};
  const testResults = {};

  // ------------------------------------------------------------------ helpers
  function clone(value) { return JSON.parse(JSON.stringify(value)); }

  function canonical(workflow) {
    return JSON.stringify(workflow.stages.map((s) => ({
      uuid: s.uuid, title: s.title, stage_type: s.stage_type,
      pathways: (s.pathways || []).map((p) => ({
        name: p.name, destination_uuid: p.destination_uuid,
        percentage: p.percentage ?? null,
      })),
      webhook: s.webhook ? s.webhook.url : null,
    })));
  }

  function isDirty() { return canonical(draft) !== baseline; }
  function stage(uuid) { return draft.stages.find((s) => s.uuid === uuid); }

  function uuid4() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function pencilIcon() {
    const icon = svg("svg", { viewBox: "0 0 16 16", "aria-hidden": "true", focusable: "false" });
    icon.append(svg("path", {
      d: "M11.5 1.8a1.5 1.5 0 0 1 2.1 0l.6.6a1.5 1.5 0 0 1 0 2.1L5.5 13.2 2 14l.8-3.5z",
      fill: "none", stroke: "currentColor", "stroke-width": "1.5", "stroke-linejoin": "round",
    }));
    return icon;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        "x-csrf-token": csrf,
      },
      body: JSON.stringify(body ?? {}),
    });
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    if (!response.ok) {
      throw new Error(data?.error?.message || `the server answered ${response.status}`);
    }
    return data;
  }

  function showError(message) {
    errorEl.textContent = message || "";
    errorEl.hidden = !message;
  }

  // ------------------------------------------------------------------ layout
  // Columns by longest path from Start over forward edges (edges that close a loop,
  // like "reject", are drawn underneath); rows ordered by their predecessors.
  function backEdges() {
    const back = new Set();
    const state = new Map();
    const visit = (uuid) => {
      state.set(uuid, "open");
      (stage(uuid).pathways || []).forEach((p, i) => {
        if (!stage(p.destination_uuid)) return;
        if (state.get(p.destination_uuid) === "open") back.add(`${uuid}|${i}`);
        else if (!state.has(p.destination_uuid)) visit(p.destination_uuid);
      });
      state.set(uuid, "done");
    };
    const start = draft.stages.find((s) => s.stage_type === "START");
    if (start) visit(start.uuid);
    return { back, reached: state };
  }

  function layout() {
    const { back, reached } = backEdges();
    const level = new Map();
    for (const uuid of reached.keys()) level.set(uuid, 0);
    for (let round = 0; round < draft.stages.length; round += 1) {
      let moved = false;
      for (const s of draft.stages) {
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
    for (const s of draft.stages) if (!level.has(s.uuid)) level.set(s.uuid, last + 1);

    const columns = [];
    for (const s of draft.stages) (columns[level.get(s.uuid)] ??= []).push(s.uuid);
    const row = new Map();
    columns.forEach((uuids, l) => {
      const weight = (uuid) => {
        const from = draft.stages.filter((s) => level.get(s.uuid) < l
          && (s.pathways || []).some((p) => p.destination_uuid === uuid));
        return from.length ? from.reduce((sum, s) => sum + row.get(s.uuid), 0) / from.length : 0;
      };
      uuids.sort((a, b) => weight(a) - weight(b));
      uuids.forEach((uuid, i) => row.set(uuid, i - (uuids.length - 1) / 2));
    });
    const rows = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
    // Loops from the upper half of a column go over the top, the rest underneath.
    let over = 0, under = 0;
    for (const s of draft.stages) {
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

  // ------------------------------------------------------------------ drawing
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
    for (const s of draft.stages) {
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
    node.addEventListener("click", () => openPopup(s.uuid));
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        openPopup(s.uuid);
      }
    });
    layer.append(node);
  }

  function drawGraph() {
    const { pos, width, height, back } = layout();
    graph.replaceChildren();
    graph.setAttribute("viewBox", `0 0 ${width} ${height}`);
    graph.setAttribute("width", width);
    graph.setAttribute("height", height);
    const defs = svg("defs");
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
    marker.append(svg("path", { class: "arrow", d: "M0,0 L10,5 L0,10 z" }));
    defs.append(marker);
    const edges = svg("g"), labels = svg("g"), nodes = svg("g");
    graph.append(defs, edges, nodes, labels);
    drawEdges(edges, labels, pos, back);
    for (const s of draft.stages) drawNode(nodes, s, pos.get(s.uuid));
  }

  function drawList() {
    const list = root.querySelector("[data-stage-list]");
    list?.replaceChildren(...draft.stages.map((s) => el("button", {
      type: "button", class: "btn btn-small",
      text: s.title || "Untitled stage", onclick: () => openPopup(s.uuid),
    })));
  }

  function refresh() {
    drawGraph();
    drawList();
    const dirty = isDirty();
    if (statusEl) {
      const created = cfg.mode === "create";
      statusEl.textContent = dirty
        ? (created ? "Graph edited; it is saved with the project." : "Unsaved changes")
        : (cfg.mode === "project" ? "All changes saved" : "");
      statusEl.classList.toggle("dirty", dirty && !created);
    }
    if (saveBtn) saveBtn.disabled = !dirty;
    if (discardBtn) discardBtn.disabled = !dirty;
  }

  // ------------------------------------------------------------------ pop-up
  function openPopup(uuid) {
    if (openUuid !== uuid) editingHook = false;
    openUuid = uuid;
    renderPopup();
    if (!popup.open) popup.showModal();
    refresh();
  }

  function closePopup() {
    editingHook = false;
    openUuid = null;
    if (popup.open) popup.close();
  }

  popup.addEventListener("close", () => {
    const was = openUuid;
    editingHook = false;
    openUuid = null;
    refresh();
    graph.querySelector(`[data-stage="${was}"]`)?.focus();
  });

  popup.addEventListener("cancel", (event) => {
    // Escape while typing a URL cancels the URL edit, not the pop-up.
    if (editingHook) {
      event.preventDefault();
      cancelHookEdit();
    }
  });

  function incoming(uuid) {
    return draft.stages.filter((s) => (s.pathways || []).some((p) => p.destination_uuid === uuid));
  }

  function destinationSelect(s, p, index) {
    const id = `dest-${index}`;
    const select = el("select", { id, disabled: !cfg.editable, onchange: (e) => { p.destination_uuid = e.target.value; refresh(); } });
    if (!stage(p.destination_uuid)) select.append(el("option", { value: p.destination_uuid, selected: true, text: "— choose a stage —" }));
    for (const other of draft.stages) {
      if (other.stage_type === "START") continue;
      select.append(el("option", { value: other.uuid, selected: other.uuid === p.destination_uuid, text: other.title }));
    }
    return [el("label", { for: id, class: "sr-only", text: `Destination of pathway ${p.name}` }), select];
  }

  function pathwaysSection(s) {
    const router = s.stage_type === "PERCENTAGE_ROUTER";
    const section = el("section", { "aria-labelledby": "pathways-title" }, el("h3", { id: "pathways-title", text: router ? "Branches" : "Pathways" }));
    (s.pathways || []).forEach((p, i) => {
      const row = el("div", { class: "pathway-row", "data-pathway": p.name });
      if (router) {
        row.append(
          el("label", { for: `pw-name-${i}`, class: "sr-only", text: "Branch name" }),
          el("input", { id: `pw-name-${i}`, class: "pw-name-input", value: p.name, disabled: !cfg.editable, oninput: (e) => { p.name = e.target.value; refresh(); } }),
          el("label", { for: `pw-pct-${i}`, class: "sr-only", text: `Percentage of branch ${p.name}` }),
          el("input", { id: `pw-pct-${i}`, class: "pw-pct", type: "number", min: "0", max: "100", step: "1", value: p.percentage ?? 0, disabled: !cfg.editable, oninput: (e) => { p.percentage = Number.parseInt(e.target.value || "0", 10); refresh(); } }),
          el("span", { class: "muted", text: "%" }),
        );
      } else {
        row.append(el("span", { class: "pw-name", text: p.name }));
      }
      row.append(el("span", { class: "pw-arrow", "aria-hidden": "true", text: "→" }), ...destinationSelect(s, p, i));
      if (router && cfg.editable) {
        row.append(el("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Remove branch ${p.name}`, text: "Remove", onclick: () => { s.pathways.splice(i, 1); renderPopup(); refresh(); } }));
      }
      section.append(row);
    });
    if (router && cfg.editable) {
      section.append(el("button", { type: "button", class: "btn btn-small", text: "Add branch", onclick: () => {
        const complete = draft.stages.find((x) => x.stage_type === "COMPLETE");
        s.pathways.push({ name: `branch ${s.pathways.length + 1}`, destination_uuid: complete.uuid, percentage: 0 });
        renderPopup(); refresh();
      } }));
    }
    if (!(s.pathways || []).length && !router) {
      section.append(el("p", { class: "hint", text: "Tasks end here; this stage has no pathways." }));
    }
    return section;
  }

  function webhookLive(s) {
    const live = el("div", { class: "webhook-live", "data-webhook-live": "" });
    const secret = secrets[s.uuid];
    live.append(el("h4", { text: "Signing secret" }));
    const secretRow = el("div", { class: "row" },
      el("code", { class: "secret", "data-secret": "", text: secret || "hidden" }));
    if (secret) secretRow.append(el("button", { type: "button", class: "btn btn-small", text: "Copy", onclick: () => navigator.clipboard?.writeText(secret) }));
    else secretRow.append(el("button", { type: "button", class: "btn btn-small", text: "Reveal", "data-reveal": "", onclick: () => secretAction(s, "secret") }));
    secretRow.append(el("button", { type: "button", class: "btn btn-small", text: "Rotate", "data-rotate": "", onclick: () => {
      if (window.confirm("Rotate the signing secret? Deliveries are signed with both secrets for a grace period, so receivers can switch over.")) secretAction(s, "rotate");
    } }));
    live.append(secretRow);
    const result = testResults[s.uuid];
    live.append(el("div", { class: "row" },
      el("button", { type: "button", class: "btn btn-small", text: "Send test event", "data-test": "", onclick: () => sendTest(s) })));
    const resultEl = el("p", { class: `test-result${result ? (result.ok ? " ok" : " bad") : ""}`, "data-test-result": "", "aria-live": "polite", role: "status", text: result ? result.text : "" });
    resultEl.hidden = !result;
    live.append(resultEl);
    return live;
  }

  function webhookSection(s) {
    const section = el("section", { class: "webhook", "aria-labelledby": "webhook-title", "data-webhook-section": "" },
      el("h3", { id: "webhook-title", text: "Webhook" }));
    const url = s.webhook?.url;
    if (editingHook) {
      const input = el("input", {
        id: "webhook-url", type: "url", value: url || "", autocomplete: "off", spellcheck: "false",
        placeholder: "https://example.com/hooks/stagehook", "aria-describedby": "webhook-help webhook-error",
      });
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") { event.preventDefault(); confirmHook(s, input); }
        if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); cancelHookEdit(); }
      });
      const error = el("p", { id: "webhook-error", class: "field-error", role: "alert", "data-webhook-error": "" });
      error.hidden = true;
      section.append(el("div", { class: "webhook-edit" },
        el("label", { for: "webhook-url", text: "Webhook URL" }), input,
        el("p", { id: "webhook-help", class: "hint", text: "Enter to confirm, Escape to cancel. Leave empty and press Enter to remove." }),
        error));
      queueMicrotask(() => { input.focus(); input.select(); });
      return section;
    }
    const view = el("div", { class: "webhook-view" },
      el("span", { class: `webhook-url${url ? "" : " none"}`, "data-webhook-url": "", text: url || "No webhook" }));
    if (cfg.editable) {
      const edit = el("button", { type: "button", class: "icon-btn", "aria-label": "Edit webhook URL", title: "Edit webhook URL", "data-edit-webhook": "", onclick: () => { editingHook = true; renderPopup(); } });
      edit.append(pencilIcon());
      view.append(edit);
    }
    section.append(view);
    if (url && cfg.editable) {
      section.append(el("button", { type: "button", class: "btn-link danger", text: "Remove webhook", onclick: () => { delete s.webhook; renderPopup(); refresh(); } }));
    }
    const settled = cfg.mode === "project" && url && saved[s.uuid] === url;
    if (settled && cfg.editable) section.append(webhookLive(s));
    else if (url && cfg.mode === "project") section.append(el("p", { class: "hint", text: "Save the workflow to create this webhook's signing secret and send a test event." }));
    else if (cfg.mode !== "project") section.append(el("p", { class: "hint", text: "Each webhook gets its signing secret when the project is saved." }));
    return section;
  }

  function renderPopup() {
    const s = stage(openUuid);
    if (!s) { closePopup(); return; }
    const titleInput = el("input", { id: "stage-title", class: "full", value: s.title, maxlength: "200", disabled: !cfg.editable });
    titleInput.addEventListener("input", () => {
      s.title = titleInput.value;
      popup.querySelector("#popup-title").textContent = s.title || "Untitled stage";
      refresh();
    });
    const body = el("div", { class: "popup-body" },
      el("div", {}, el("label", { for: "stage-title", text: "Title" }), titleInput),
      pathwaysSection(s));
    if (s.stage_type !== "START" && !incoming(s.uuid).length) {
      body.append(el("p", { class: "field-error", text: "No pathway leads here yet: pick this stage as the destination of a pathway of another stage." }));
    }
    if (WEBHOOK_TYPES.has(s.stage_type)) body.append(webhookSection(s));
    const foot = el("div", { class: "popup-foot" });
    if (cfg.editable && !FIXED_TYPES.has(s.stage_type)) {
      foot.append(el("button", { type: "button", class: "btn btn-danger", text: "Delete stage", onclick: () => deleteStage(s) }));
    } else {
      foot.append(el("span"));
    }
    foot.append(el("button", { type: "button", class: "btn btn-primary", text: "Done", onclick: closePopup }));
    popup.replaceChildren(
      el("div", { class: "popup-head" },
        el("div", {},
          el("h2", { id: "popup-title", text: s.title || "Untitled stage" }),
          el("span", { class: `type type-${s.stage_type.toLowerCase()}`, "data-stage-type": s.stage_type, text: TYPE_NAMES[s.stage_type] })),
        el("button", { type: "button", class: "icon-btn", "aria-label": "Close", text: "✕", onclick: closePopup })),
      body, foot);
  }

  async function confirmHook(s, input) {
    const value = input.value.trim();
    const error = popup.querySelector("[data-webhook-error]");
    if (!value) {
      delete s.webhook;
      editingHook = false;
      renderPopup(); refresh();
      popup.querySelector("[data-edit-webhook]")?.focus();
      return;
    }
    try {
      const checked = await post("/ui/webhook-url", { url: value });
      s.webhook = { url: checked.url };
      editingHook = false;
      renderPopup(); refresh();
      popup.querySelector("[data-edit-webhook]")?.focus();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  function cancelHookEdit() {
    editingHook = false;
    renderPopup();
    popup.querySelector("[data-edit-webhook]")?.focus();
  }

  function hookUrl(s, what) {
    return `/projects/${cfg.project_hash}/stages/${s.uuid}/webhook/${what}`;
  }

  async function secretAction(s, what) {
    try {
      const data = await post(hookUrl(s, what));
      secrets[s.uuid] = data.signing_secret;
      if (what === "rotate") testResults[s.uuid] = { ok: true, text: "New secret in use; the old one is still accepted during the grace period." };
    } catch (err) {
      testResults[s.uuid] = { ok: false, text: err.message };
    }
    renderPopup();
  }

  async function sendTest(s) {
    testResults[s.uuid] = { ok: true, text: "Sending…" };
    renderPopup();
    try {
      const r = await post(hookUrl(s, "test"));
      const code = r.status_code ? `HTTP ${r.status_code}` : (r.error_class || "no response");
      testResults[s.uuid] = r.success
        ? { ok: true, text: `Delivered: ${code} in ${r.duration_ms} ms.` }
        : { ok: false, text: `Failed: ${code}${r.error ? ` (${r.error})` : ""} after ${r.duration_ms} ms.${r.response_excerpt ? ` Response: ${r.response_excerpt}` : ""}` };
    } catch (err) {
      testResults[s.uuid] = { ok: false, text: err.message };
    }
    renderPopup();
    popup.querySelector("[data-test]")?.focus();
  }

  // ------------------------------------------------------------------ graph edits
  function deleteStage(s) {
    const leads = incoming(s.uuid).filter((x) => x.uuid !== s.uuid);
    const question = leads.length
      ? `Delete ${s.title}? Pathways of ${leads.map((x) => x.title).join(", ")} lead here and will need a new destination.`
      : `Delete ${s.title}?`;
    if (!window.confirm(question)) return;
    draft.stages = draft.stages.filter((x) => x.uuid !== s.uuid);
    closePopup();
    refresh();
  }

  function addStage(type) {
    const complete = draft.stages.find((x) => x.stage_type === "COMPLETE");
    const annotate = draft.stages.find((x) => x.stage_type === "ANNOTATE");
    const same = draft.stages.filter((x) => x.stage_type === type).length;
    const name = type === "PERCENTAGE_ROUTER" ? "Router" : TYPE_NAMES[type];
    const s = { uuid: uuid4(), title: same ? `${name} ${same + 1}` : name, stage_type: type, pathways: [] };
    const end = complete?.uuid ?? "";
    if (type === "ANNOTATE") s.pathways = [{ name: "submit", destination_uuid: end }];
    if (type === "REVIEW") s.pathways = [{ name: "approve", destination_uuid: end }, { name: "reject", destination_uuid: annotate?.uuid ?? end }];
    if (type === "PERCENTAGE_ROUTER") {
      s.pathways = [
        { name: "branch 1", destination_uuid: end, percentage: 50 },
        { name: "branch 2", destination_uuid: end, percentage: 50 },
      ];
    }
    draft.stages.push(s);
    openPopup(s.uuid);
  }

  async function saveProject() {
    showError("");
    saveBtn.disabled = true;
    try {
      const stored = await post(`/projects/${cfg.project_hash}/workflow`, draft);
      draft = clone(stored);
      pristine = clone(stored);
      baseline = canonical(stored);
      saved = Object.fromEntries(stored.stages.filter((s) => s.webhook).map((s) => [s.uuid, s.webhook.url]));
      if (statusEl) statusEl.textContent = "Saved";
    } catch (err) {
      showError(err.message);
    }
    refresh();
    if (statusEl && !isDirty()) statusEl.textContent = "Saved";
    if (openUuid) renderPopup();
  }

  async function saveTemplate() {
    showError("");
    const title = document.querySelector("[data-template-title]");
    try {
      const created = await post("/templates", { title: title.value, workflow: draft });
      leaving = true;
      window.location.assign(created.location);
    } catch (err) {
      showError(err.message);
    }
  }

  // ------------------------------------------------------------------ wiring
  root.querySelector("[data-add]")?.addEventListener("click", () => {
    addStage(root.querySelector("[data-add-type]").value);
  });
  saveBtn?.addEventListener("click", saveProject);
  discardBtn?.addEventListener("click", () => {
    draft = clone(pristine);
    showError("");
    if (openUuid) renderPopup();
    refresh();
  });
  document.querySelector("[data-save-template]")?.addEventListener("click", saveTemplate);

  if (form) {
    // Creating a project: an untouched template goes by its hash, anything else whole.
    const select = form.querySelector("[data-template-select]");
    const field = form.querySelector("[data-workflow-field]");
    let edited = Boolean(cfg.dirty);
    select?.addEventListener("change", () => {
      if ((edited || isDirty()) && !window.confirm("Replace your edited graph with this template?")) {
        select.value = select.dataset.current ?? select.value;
        return;
      }
      const choice = cfg.choices.find((c) => c.template_hash === select.value);
      draft = clone(choice.workflow);
      pristine = clone(choice.workflow);
      baseline = canonical(pristine);
      edited = false;
      select.dataset.current = select.value;
      refresh();
    });
    if (select) select.dataset.current = select.value;
    form.addEventListener("submit", () => {
      field.value = edited || isDirty() || !select?.value ? JSON.stringify(draft) : "";
      leaving = true;
    });
  }

  window.addEventListener("beforeunload", (event) => {
    if (leaving || !cfg.editable || !isDirty()) return;
    event.preventDefault();
    event.returnValue = "";
  });

  refresh();
})();
