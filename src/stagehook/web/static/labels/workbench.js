// The labeling workbench on the task page: draw, classify, autosave, Submit & next,
// review. The label row is saved through the REST API with the page's session; the
// task moves through the web endpoint that also hands back the next task.
import { fromRow, toRow, indexOntology, KINDS, encordDate, shortHash } from "./format.js";
import { Stage, fromSelector } from "./stage.js";
import { helpDialog, renderClassifications, renderObject, renderObjectList, renderPalette } from "./panel.js";
import { Drafts } from "./drafts.js";
import { bindControls } from "./keys.js";
import { call, loadImage } from "./net.js";

const SAVE_DELAY_MS = 800;
const COMMIT_DELAY_MS = 250;
const UNDO_DEPTH = 200;

const root = document.querySelector("[data-workbench]");
const config = JSON.parse(document.getElementById("workbench-config").textContent);
const $ = (name) => root.querySelector(`[data-${name}]`);

class Workbench {
  constructor() {
    this.byHash = new Map();
    this.classes = [];
    this.active = null;
    this.selected = null;
    this.undo = [];
    this.redo = [];
    this.saveTimer = null;
    this.commitTimer = null;
    this.saving = null;
    this.conflict = false;
    this.next = null;
    this.help = helpDialog();
    this.stage = new Stage($("stage"), {
      styleOf: (hash) => this.byHash.get(this.find(hash)?.featureHash),
      onShapes: (changes) => this.shapesChanged(changes),
      onSelect: (hash) => this.selectionChanged(hash),
      onPoint: (geom) => this.addPoint(geom),
      onPointMoved: (hash, geom) => { const item = this.find(hash); if (item) { item.geom = geom; this.touch(); } },
    }, { readOnly: config.read_only });
    bindControls(this, root, config);
  }

  // The page carries the ontology; the image was preloaded by the page's <head>.
  async start(structure, task) {
    this.structure = structure ?? { objects: [], classifications: [] };
    this.byHash = indexOntology(this.structure);
    this.classes = this.structure.objects.filter((o) => KINDS[o.shape] && !o.archived);
    await this.open(task, await loadImage(task.image.url));
  }

  // ------------------------------------------------------------ one task
  async open(task, img) {
    this.task = task;
    this.version = task.version;
    this.saved = task.labels;
    this.state = fromRow(task.labels, task.data_hash, this.byHash);
    this.undo = [];
    this.redo = [];
    this.selected = null;
    this.conflict = false;
    this.dirty = false;
    this.drafts = new Drafts(task.label_hash);
    const draft = config.read_only ? null : this.drafts.read();
    $("stage").hidden = !img;
    this.message(img ? "" : "This data unit has no image: its labels are JSON (Advanced, below).", "ok");
    if (img) this.stage.show(img, this.state.objects); else this.stage.clear();
    this.committed = this.snapshot();
    if (draft) this.restoreDraft(draft);
    else this.status(config.read_only ? "Read-only" : "Saved", "ok");
    this.renderAll();
    this.showTaskFacts();
    root.dataset.ready = task.task_uuid;
    this.prefetch();
  }

  restoreDraft(draft) {
    this.state = draft.state;
    this.dirty = true;
    this.stage.load(this.state.objects);
    this.committed = this.snapshot();
    if (draft.version === this.version) {
      this.status("Unsaved changes restored", "warn");
      this.scheduleSave();
    } else {
      this.showConflict(`Your unsaved edits were made on version ${draft.version}, but this task was saved since (version ${this.version}).`);
    }
  }

  showTaskFacts() {
    const t = this.task;
    $("title").textContent = t.data_title || t.data_hash.slice(0, 8);
    $("position").textContent = t.status.toLowerCase();
    const comment = $("review-comment");
    comment.hidden = !t.review_comment;
    if (t.review_comment) {
      comment.querySelector("[data-comment-text]").textContent = t.review_comment.comment;
      comment.querySelector("[data-comment-by]").textContent = `${t.review_comment.actor}, ${t.review_comment.when}`;
    }
    this.showJson();
    document.title = `${$("title").textContent} · ${config.project_title} · stagehook`;
  }

  // The saved row as JSON, written only while its panel is open (300 boxes are 150 kB).
  showJson() {
    const panel = $("advanced");
    $("advanced-json").value = panel.open ? JSON.stringify(this.saved, null, 2) : "";
  }

  // The server-rendered details (history, JSON form) describe the task the page was
  // loaded with; after Submit & next they would be another task's, so they make way.
  staleDetails() {
    for (const part of document.querySelectorAll("[data-fresh-details]")) part.hidden = true;
    const note = document.querySelector("[data-stale-details]");
    note.hidden = false;
    note.querySelector("a").href = window.location.pathname;
  }

  // ------------------------------------------------------------ state changes
  find(hash) { return this.state.objects.find((o) => o.objectHash === hash); }
  snapshot() { return JSON.stringify({ objects: this.state.objects, classifications: this.state.classifications }); }

  // Record one edit: undo step after a short pause (a drag is one step), draft now, save soon.
  touch() {
    this.redo = [];
    this.dirty = true;
    clearTimeout(this.commitTimer);
    this.commitTimer = setTimeout(() => this.commit(), COMMIT_DELAY_MS);
    this.drafts.write(this.version, this.state);
    this.status("Unsaved changes", "warn");
    this.scheduleSave();
  }

  commit() {
    clearTimeout(this.commitTimer);
    const now = this.snapshot();
    if (now === this.committed) return;
    this.undo.push(this.committed);
    if (this.undo.length > UNDO_DEPTH) this.undo.shift();
    this.committed = now;
  }

  travel(from, to) {
    this.commit();
    const target = from.pop();
    if (target === undefined) return;
    to.push(this.committed);
    Object.assign(this.state, JSON.parse(target));
    this.committed = target;
    this.stage.load(this.state.objects);
    if (this.selected && !this.find(this.selected)) this.selected = null;
    this.renderAll();
    this.dirty = true;
    this.drafts.write(this.version, this.state);
    this.status("Unsaved changes", "warn");
    this.scheduleSave();
  }

  meta() {
    return { createdAt: encordDate(), createdBy: config.username, manualAnnotation: true, confidence: 1 };
  }

  shapesChanged(changes) {
    let changed = false;
    for (const annotation of changes.created ?? []) {
      const shape = fromSelector(annotation.target.selector, this.stage.width, this.stage.height);
      const element = this.byHash.get(this.active);
      if (!shape || !element || KINDS[element.shape] !== shape.kind) continue;
      this.state.objects.push({ objectHash: annotation.id, featureHash: this.active, ...shape, answers: {}, meta: this.meta() });
      changed = true;
      // Annotorious selects what was just drawn, which hides its drawing tool: drop that
      // selection (after Annotorious made it) so the next drag draws the next box, and
      // keep the new object in the side panel for its attributes.
      this.created = annotation.id;
      queueMicrotask(() => this.stage.anno?.cancelSelected());
    }
    for (const { newValue } of changes.updated ?? []) {
      const item = this.find(newValue.id);
      const shape = item && fromSelector(newValue.target.selector, this.stage.width, this.stage.height);
      if (shape) { item.geom = shape.geom; this.edited(item); changed = true; }
    }
    for (const annotation of changes.deleted ?? []) {
      const before = this.state.objects.length;
      this.state.objects = this.state.objects.filter((o) => o.objectHash !== annotation.id);
      changed = changed || before !== this.state.objects.length;
    }
    if (changed) { this.renderObjects(); this.touch(); }
  }

  edited(item) {
    item.meta = { ...item.meta, lastEditedAt: encordDate(), lastEditedBy: config.username };
  }

  addPoint(geom) {
    const element = this.byHash.get(this.active);
    if (!element || element.shape !== "point") return;
    const objectHash = shortHash();
    this.state.objects.push({ objectHash, featureHash: this.active, kind: "point", geom, answers: {}, meta: this.meta() });
    this.stage.points.set(objectHash, geom);
    this.stage.selectPoint(objectHash, true);
    this.renderObjects();
    this.touch();
  }

  removeSelected() {
    if (!this.selected) return;
    this.state.objects = this.state.objects.filter((o) => o.objectHash !== this.selected);
    this.selected = null;
    this.stage.load(this.state.objects);
    this.renderAll();
    this.touch();
  }

  selectionChanged(hash) {
    const created = this.created;
    if (created && hash === null) {
      this.created = null; // our own deselect right after the draw
      hash = created;
    } else if (hash !== created) {
      this.created = null;
    }
    this.selected = hash;
    this.renderObjects();
  }

  cycle(step) {
    const list = this.state.objects;
    if (!list.length) return;
    const at = list.findIndex((o) => o.objectHash === this.selected);
    const next = list[(at + step + list.length) % list.length].objectHash;
    this.stage.select(next);
    this.selectionChanged(next);
  }

  pick(featureHash) {
    this.active = featureHash;
    this.stage.setTool(KINDS[this.byHash.get(featureHash)?.shape] ?? null);
    this.renderPalette();
  }

  answerClassification(featureHash, value) {
    const entry = this.state.classifications[featureHash];
    this.state.classifications[featureHash] = entry
      ? { ...entry, value, meta: { ...entry.meta, lastEditedAt: encordDate(), lastEditedBy: config.username } }
      : { classificationHash: shortHash(), value, meta: this.meta() };
    this.touch();
  }

  // ------------------------------------------------------------ rendering
  renderPalette() {
    renderPalette($("palette"), this.classes, this.active, config.read_only, (hash) => this.pick(hash));
    if (!$("tool")) return;
    $("tool").textContent = this.active ? `Drawing: ${this.byHash.get(this.active).name}` : "Select / pan";
  }

  renderObjects() {
    const item = this.find(this.selected);
    const element = item && this.byHash.get(item.featureHash);
    renderObject($("object"), element, item, config.read_only, (attr, value) => {
      item.answers[attr] = value;
      this.edited(item);
      this.touch();
    }, (featureHash) => {
      item.featureHash = featureHash;
      this.edited(item);
      this.stage.restyle();
      this.renderObjects();
      this.touch();
    }, this.classes);
    renderObjectList($("objects"), this.state.objects, this.byHash, this.selected, (hash) => {
      this.stage.select(hash);
      this.selectionChanged(hash);
    });
    $("count").textContent = String(this.state.objects.length);
  }

  renderAll() {
    this.renderPalette();
    renderClassifications($("classifications"), this.structure.classifications ?? [], this.state,
      config.read_only, (hash, value) => this.answerClassification(hash, value));
    this.renderObjects();
  }

  status(text, kind) {
    const box = $("save-status");
    box.textContent = text;
    box.dataset.kind = kind;
  }

  message(text, kind = "error") {
    const box = $("message");
    box.textContent = text;
    box.classList.toggle("flash-error", kind === "error");
    box.classList.toggle("flash-ok", kind === "ok");
    box.hidden = !text;
  }

  // ------------------------------------------------------------ saving
  scheduleSave() {
    clearTimeout(this.saveTimer);
    if (!this.conflict) this.saveTimer = setTimeout(() => this.save(), SAVE_DELAY_MS);
  }

  // Save what is on screen on the version it started from; never over someone else's.
  async save() {
    clearTimeout(this.saveTimer);
    if (this.saving) await this.saving;
    if (this.conflict || config.read_only || !this.dirty) return !this.conflict;
    const sent = this.snapshot();
    const task = this.task;
    const labels = toRow(this.state, this.saved, this.byHash, { dataHash: task.data_hash, unit: task.unit });
    this.status("Saving…", "busy");
    this.saving = call("PUT", `/api/v1/projects/${config.project_hash}/label-rows/${task.label_hash}`,
      { labels, version: this.version });
    try {
      const row = await this.saving;
      if (task !== this.task) return true;
      this.version = row.version;
      this.saved = row.labels;
      this.showJson();
      if (this.snapshot() === sent) { this.dirty = false; this.drafts.clear(); this.status("Saved", "ok"); }
      else { this.drafts.write(this.version, this.state); this.scheduleSave(); }
      this.message("");
      return true;
    } catch (error) {
      if (error.status === 409) this.showConflict(`Someone else saved this task meanwhile. ${error.message}`);
      else { this.status("Not saved", "error"); this.message(`Not saved: ${error.message}`); }
      return false;
    } finally {
      this.saving = null;
    }
  }

  showConflict(text) {
    this.conflict = true;
    clearTimeout(this.saveTimer);
    this.status("Conflict", "error");
    const box = $("conflict");
    box.querySelector("[data-conflict-text]").textContent = `${text} Your edits are kept in this browser until you choose.`;
    box.hidden = false;
  }

  async resolve(keepMine) {
    const row = await call("GET", `/api/v1/projects/${config.project_hash}/label-rows/${this.task.label_hash}`);
    $("conflict").hidden = true;
    this.conflict = false;
    this.version = row.version;
    this.saved = row.labels;
    if (keepMine) {
      this.dirty = true;
      this.drafts.write(this.version, this.state);
      await this.save();
    } else {
      this.dirty = false;
      this.drafts.clear();
      this.state = fromRow(row.labels, this.task.data_hash, this.byHash);
      this.stage.load(this.state.objects);
      this.undo = [];
      this.redo = [];
      this.committed = this.snapshot();
      this.renderAll();
      this.status("Saved", "ok");
    }
  }

  // ------------------------------------------------------------ moving on
  prefetch() {
    this.next = null;
    const asked = this.task;
    call("GET", `${config.task_base}/${asked.task_uuid}/next`).then((found) => {
      if (asked !== this.task || !found.next) return;
      this.next = found.next;
      this.nextImage = loadImage(found.next.image.url);
      this.nextImageUrl = found.next.image.url;
    }).catch(() => {});
  }

  async advance(action) {
    const comment = $("review-text")?.value.trim() ?? "";
    if (action === "REJECT" && !comment) {
      this.message("Write why you reject it; the annotator sees the comment.");
      $("review-text").focus();
      return;
    }
    this.commit();
    if (!(await this.save())) return;
    root.dataset.busy = "true";
    try {
      const moved = await call("POST", `${config.task_base}/${this.task.task_uuid}/advance`, { action, comment: comment || null });
      this.message("");
      if ($("review-text")) $("review-text").value = "";
      if (!moved.next) {
        // The task just submitted is no longer ours to edit: nothing stays drawable.
        root.dataset.ready = "";
        this.stage.clear();
        for (const part of ["main", "tools", "title", "position", "advanced", "review-comment"]) $(part).hidden = true;
        this.message("");
        $("empty-text").textContent = moved.message;
        $("empty").hidden = false;
        this.staleDetails();
        return;
      }
      const url = moved.next.image.url;
      const img = await (this.nextImageUrl === url && this.nextImage ? this.nextImage : loadImage(url));
      this.nextImage = null;
      this.nextImageUrl = null;
      history.pushState({}, "", `${config.task_base}/${moved.next.task_uuid}`);
      this.staleDetails();
      await this.open(moved.next, img);
    } catch (error) {
      this.message(error.message);
    } finally {
      delete root.dataset.busy;
    }
  }

  // ------------------------------------------------------------ controls
}

const bench = new Workbench();
bench.start(config.ontology, config.task).catch((error) => bench.message(`The editor could not start: ${error.message}`));
