// The editor's working state <-> an Encord image label row (docs/labels.md).
//
// State: { objects: [{objectHash, featureHash, kind, geom, answers, meta}],
//          classifications: {featureHash: {classificationHash, value, meta}},
//          foreign: [objects of shapes the editor does not draw, written back unchanged] }
// Geometry is normalised (0-1): box {x, y, w, h}, polygon {points: [[x, y], ...]},
// point {x, y}. Answers are keyed by the attribute's featureNodeHash: radio = option
// hash, checklist = [option hashes], text = string.

export const KINDS = { bounding_box: "box", polygon: "polygon", point: "point" };

export function snake(name) {
  return String(name).toLowerCase().replace(/\s/g, "_");
}

export function encordDate(date = new Date()) {
  return date.toUTCString().replace(/GMT$/, "UTC");
}

export function shortHash() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return btoa(String.fromCharCode(...bytes));
}

// featureNodeHash -> element, over objects, classifications, attributes and options.
export function indexOntology(structure) {
  const byHash = new Map();
  const walkAttributes = (attributes = []) => {
    for (const attr of attributes) {
      byHash.set(attr.featureNodeHash, attr);
      for (const option of attr.options ?? []) {
        byHash.set(option.featureNodeHash, option);
        walkAttributes(option.options);
      }
    }
  };
  for (const obj of structure.objects ?? []) {
    byHash.set(obj.featureNodeHash, obj);
    walkAttributes(obj.attributes);
  }
  for (const cls of structure.classifications ?? []) {
    byHash.set(cls.featureNodeHash, cls);
    walkAttributes(cls.attributes);
  }
  return byHash;
}

function readPoints(obj) {
  const flat = obj.polygons?.[0]?.[0];
  if (Array.isArray(flat)) {
    const points = [];
    for (let i = 0; i + 1 < flat.length; i += 2) points.push([flat[i], flat[i + 1]]);
    return points;
  }
  const legacy = obj.polygon ?? {};
  const list = Array.isArray(legacy) ? legacy : Object.keys(legacy).sort((a, b) => a - b).map((k) => legacy[k]);
  return list.map((p) => [p.x, p.y]);
}

function readGeometry(obj, kind) {
  if (kind === "box") {
    const { x, y, w, h } = obj.boundingBox;
    return { x, y, w, h };
  }
  if (kind === "polygon") return { points: readPoints(obj) };
  const p = obj.point["0"];
  return { x: p.x, y: p.y };
}

function readAnswers(entries, byHash) {
  const answers = {};
  for (const entry of entries ?? []) {
    const attr = byHash.get(entry.featureHash);
    if (!attr) continue;
    if (attr.type === "text") answers[entry.featureHash] = String(entry.answers ?? "");
    else if (attr.type === "radio") answers[entry.featureHash] = entry.answers?.[0]?.featureHash ?? null;
    else if (attr.type === "checklist") {
      const ticked = new Set(answers[entry.featureHash] ?? []);
      for (const answer of entry.answers ?? []) ticked.add(answer.featureHash);
      answers[entry.featureHash] = [...ticked];
    }
  }
  return answers;
}

const META_KEYS = ["createdAt", "createdBy", "lastEditedAt", "lastEditedBy", "confidence", "manualAnnotation"];

function pickMeta(source) {
  const meta = {};
  for (const key of META_KEYS) if (source[key] !== undefined) meta[key] = source[key];
  return meta;
}

export function fromRow(labels, dataHash, byHash) {
  const unit = labels?.data_units?.[dataHash] ?? Object.values(labels?.data_units ?? {})[0];
  const state = { objects: [], classifications: {}, foreign: [] };
  for (const obj of unit?.labels?.objects ?? []) {
    const kind = KINDS[obj.shape];
    if (!kind || !byHash.has(obj.featureHash)) { state.foreign.push(obj); continue; }
    const given = labels.object_answers?.[obj.objectHash]?.classifications;
    const edited = byHash.get(obj.featureHash).attributes;
    state.objects.push({
      objectHash: obj.objectHash,
      featureHash: obj.featureHash,
      kind,
      geom: readGeometry(obj, kind),
      answers: readAnswers(given, byHash),
      kept: keptAnswers(given, edited),
      meta: pickMeta(obj),
    });
  }
  for (const inst of unit?.labels?.classifications ?? []) {
    const cls = byHash.get(inst.featureHash);
    const root = cls?.attributes?.[0];
    if (!root) continue;
    const given = labels.classification_answers?.[inst.classificationHash]?.classifications;
    const answers = readAnswers(given, byHash);
    state.classifications[inst.featureHash] = {
      classificationHash: inst.classificationHash,
      value: answers[root.featureNodeHash] ?? null,
      kept: keptAnswers(given, [root]),
      meta: pickMeta(inst),
    };
  }
  return state;
}

// Answers the side panel does not edit (nested under a radio option, numeric) are kept
// as they came and written back unchanged: editing a row in the browser loses nothing.
function keptAnswers(given, edited = []) {
  const shown = new Set(edited.filter((a) => a.type !== "numeric").map((a) => a.featureNodeHash));
  return (given ?? []).filter((entry) => !shown.has(entry.featureHash));
}

function answerEntry(attr, value, byHash) {
  const option = (hash) => {
    const o = byHash.get(hash);
    return { name: o?.label ?? hash, value: o?.value ?? snake(o?.label ?? hash), featureHash: hash };
  };
  let answers;
  if (attr.type === "text") answers = value;
  else if (attr.type === "radio") answers = [option(value)];
  else answers = value.map(option);
  return { name: attr.name, value: snake(attr.name), featureHash: attr.featureNodeHash, manualAnnotation: true, answers };
}

export function answered(attr, value) {
  if (value === null || value === undefined) return false;
  if (attr.type === "text") return value !== "";
  if (attr.type === "checklist") return value.length > 0;
  return true;
}

function entries(attributes, answers, byHash) {
  return (attributes ?? [])
    .filter((attr) => answered(attr, answers[attr.featureNodeHash]))
    .map((attr) => answerEntry(attr, answers[attr.featureNodeHash], byHash));
}

const round = (v) => Math.round(v * 1e6) / 1e6;

function writeGeometry(kind, geom) {
  if (kind === "box") return { boundingBox: { h: round(geom.h), w: round(geom.w), x: round(geom.x), y: round(geom.y) } };
  if (kind === "point") return { point: { 0: { x: round(geom.x), y: round(geom.y) } } };
  const polygon = {};
  geom.points.forEach(([x, y], i) => { polygon[i] = { x: round(x), y: round(y) }; });
  return { polygon, polygons: [[geom.points.flatMap(([x, y]) => [round(x), round(y)])]] };
}

// ctx: {dataHash, unit: {data_title, data_type, width, height, data_link}}
export function toRow(state, previous, byHash, ctx) {
  const objects = [...state.foreign];
  const objectAnswers = {};
  for (const item of state.objects) {
    const element = byHash.get(item.featureHash);
    objects.push({
      name: element.name, color: element.color, shape: element.shape, value: snake(element.name),
      confidence: 1, manualAnnotation: true, ...item.meta,
      objectHash: item.objectHash, featureHash: item.featureHash,
      ...writeGeometry(item.kind, item.geom),
    });
    objectAnswers[item.objectHash] = {
      objectHash: item.objectHash,
      classifications: [...entries(element.attributes, item.answers, byHash), ...(item.kept ?? [])],
    };
  }
  const classifications = [];
  const classificationAnswers = {};
  for (const [featureHash, entry] of Object.entries(state.classifications)) {
    const cls = byHash.get(featureHash);
    const root = cls?.attributes?.[0];
    if (!root) continue;
    const own = answered(root, entry.value) ? [answerEntry(root, entry.value, byHash)] : [];
    const all = [...own, ...(entry.kept ?? [])];
    if (!all.length) continue;
    classifications.push({
      name: root.name, value: snake(root.name), confidence: 1, manualAnnotation: true, ...entry.meta,
      featureHash, classificationHash: entry.classificationHash,
    });
    classificationAnswers[entry.classificationHash] = {
      classificationHash: entry.classificationHash, featureHash, spaces: {},
      classifications: all,
    };
  }
  const before = previous?.data_units?.[ctx.dataHash] ?? {};
  return {
    ...(previous ?? {}),
    data_units: {
      ...(previous?.data_units ?? {}),
      [ctx.dataHash]: {
        ...before, data_hash: ctx.dataHash, data_sequence: 0, ...ctx.unit,
        labels: { ...(before.labels ?? {}), objects, classifications },
      },
    },
    object_answers: objectAnswers,
    classification_answers: classificationAnswers,
    object_actions: previous?.object_actions ?? {},
  };
}
