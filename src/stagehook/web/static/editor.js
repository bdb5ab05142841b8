// The workflow editor: an SVG drawing of the stage graph and a pop-up per stage.
// Every rule (valid graphs, webhook stages, URL shapes) is the server's: this file only
// edits a draft, asks the server, and shows what it answers. Nothing is stored until Save.
import { el, post, uuid4 } from "./dom.js";
import { TYPE_NAMES, WEBHOOK_TYPES, drawGraph } from "./graph.js";
import { webhookControls } from "./webhook.js";

(() => {
  const root = document.querySelector("[data-editor]");
  if (!root) return;

  const cfg = JSON.parse(document.getElementById("editor-config").textContent);
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
  let leaving = false;
  const hooks = webhookControls({
    cfg,
    popup,
    savedUrl: (uuid) => saved[uuid],
    rerender: () => { renderPopup(); refresh(); },
    changed: () => { renderPopup(); refresh(); },
  });

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

  function showError(message) {
    errorEl.textContent = message || "";
    errorEl.hidden = !message;
  }

  // ------------------------------------------------------------------ layout
  // Columns by longest path from Start over forward edges (edges that close a loop,
  // like "reject", are drawn underneath); rows ordered by their predecessors.
  function drawList() {
    const list = root.querySelector("[data-stage-list]");
    list?.replaceChildren(...draft.stages.map((s) => el("button", {
      type: "button", class: "btn btn-small",
      text: s.title || "Untitled stage", onclick: () => openPopup(s.uuid),
    })));
  }

  function refresh() {
    drawGraph(graph, draft.stages, { openUuid, onOpen: openPopup });
    drawList();
    const dirty = isDirty();
    if (statusEl) {
      const created = cfg.mode === "create";
      statusEl.textContent = dirty
        ? (created ? "Graph edited; it is saved with the project." : "Unsaved changes")
        : (cfg.mode === "project" ? "All changes saved" : "");
      statusEl.classList.toggle("dirty", dirty && !created);
    }
    // An open URL field counts as a change: Save confirms it first.
    const savable = dirty || hooks.editing;
    if (saveBtn) saveBtn.disabled = !savable;
    const popupSave = popup.querySelector("[data-popup-save]");
    if (popupSave) popupSave.disabled = !savable;
    if (discardBtn) discardBtn.disabled = !dirty;
  }

  // ------------------------------------------------------------------ pop-up
  function openPopup(uuid) {
    if (openUuid !== uuid) hooks.reset();
    openUuid = uuid;
    renderPopup();
    if (!popup.open) popup.showModal();
    refresh();
  }

  function closePopup() {
    hooks.reset();
    openUuid = null;
    if (popup.open) popup.close();
  }

  popup.addEventListener("close", () => {
    const was = openUuid;
    hooks.reset();
    openUuid = null;
    refresh();
    graph.querySelector(`[data-stage="${was}"]`)?.focus();
  });

  popup.addEventListener("cancel", (event) => {
    // Escape while typing a URL cancels the URL edit, not the pop-up.
    if (hooks.editing) {
      event.preventDefault();
      hooks.cancel();
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
    if (WEBHOOK_TYPES.has(s.stage_type)) body.append(hooks.section(s));
    const foot = el("div", { class: "popup-foot" });
    if (cfg.editable && !FIXED_TYPES.has(s.stage_type)) {
      foot.append(el("button", { type: "button", class: "btn btn-danger", text: "Delete stage", onclick: () => deleteStage(s) }));
    } else {
      foot.append(el("span"));
    }
    // The pop-up is modal and covers the editor bar, so Save is here too: click the stage,
    // set the webhook URL, Enter, Save, and the secret appears in the same pop-up.
    const actions = el("div", { class: "popup-actions" });
    const save = saveAction();
    actions.append(el("button", { type: "button", class: save ? "btn" : "btn btn-primary", text: "Done", onclick: closePopup }));
    if (save) {
      actions.append(el("button", { type: "button", class: "btn btn-primary", text: "Save", "data-popup-save": "", disabled: !(isDirty() || hooks.editing), onclick: save }));
    }
    foot.append(actions);
    popup.replaceChildren(
      el("div", { class: "popup-head" },
        el("div", {},
          el("h2", { id: "popup-title", text: s.title || "Untitled stage" }),
          el("span", { class: `type type-${s.stage_type.toLowerCase()}`, "data-stage-type": s.stage_type, text: TYPE_NAMES[s.stage_type] })),
        el("button", { type: "button", class: "icon-btn", "aria-label": "Close", text: "✕", onclick: closePopup })),
      body, foot);
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

  function saveAction() {
    if (!cfg.editable) return null;
    if (cfg.mode === "project") return saveProject;
    if (cfg.mode === "template" && cfg.template_hash) return () => saveTemplate(false);
    return null;
  }

  async function saveProject() {
    showError("");
    if (!(await hooks.settle())) return;
    if (saveBtn) saveBtn.disabled = true;
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

  // In place (an existing template's "Save") or as a new template ("Save as new").
  async function saveTemplate(asNew) {
    showError("");
    if (!(await hooks.settle())) return;
    const title = document.querySelector("[data-template-title]");
    try {
      if (asNew || !cfg.template_hash) {
        const created = await post("/templates", { title: title.value, workflow: draft });
        leaving = true;
        window.location.assign(created.location);
        return;
      }
      const stored = await post(`/templates/${cfg.template_hash}`, { title: title.value, workflow: draft });
      draft = clone(stored.workflow);
      pristine = clone(stored.workflow);
      baseline = canonical(pristine);
      document.querySelectorAll("[data-template-heading]").forEach((h) => { h.textContent = stored.title; });
      if (statusEl) statusEl.textContent = "Saved";
    } catch (err) {
      showError(err.message);
    }
    refresh();
    if (statusEl && !isDirty()) statusEl.textContent = "Saved";
    if (openUuid) renderPopup();
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
  document.querySelector("[data-save-template]")?.addEventListener("click", () => saveTemplate(false));
  document.querySelector("[data-save-template-new]")?.addEventListener("click", () => saveTemplate(true));

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
