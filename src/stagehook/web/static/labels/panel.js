// The side panel: the class palette, image-level classifications, the selected object's
// attributes, and the shortcut help. Plain form controls, so Tab, arrows and Space work.
import { el } from "../dom.js";

export const SHAPE_WORDS = { bounding_box: "box", polygon: "polygon", point: "point" };

export const SHORTCUTS = [
  ["1 – 9", "pick an object class (its tool: box, polygon or point)"],
  ["V or Esc", "select and move: no drawing tool (Esc also cancels a polygon being drawn)"],
  ["drag", "draw a box; with no tool, pan the image"],
  ["click … click the first vertex", "draw a polygon (double-click also closes it)"],
  ["click", "place a point"],
  ["Delete / Backspace", "delete the selected object"],
  ["Tab / Shift+Tab", "select the next / previous object"],
  ["Space + drag, middle drag", "pan"],
  ["wheel, + / −", "zoom; 0 fits the image"],
  ["Ctrl+Z / Ctrl+Shift+Z, Ctrl+Y", "undo / redo"],
  ["Alt+1 – 9", "answer the first radio classification with option 1 – 9"],
  ["Ctrl+Enter", "Submit & next (Approve & next when reviewing)"],
  ["?", "show or hide this help"],
];

function attributeField(attr, value, disabled, onChange) {
  const id = `attr-${attr.featureNodeHash}`.replace(/[^A-Za-z0-9_-]/g, "_");
  const title = `${attr.name}${attr.required ? " *" : ""}`;
  if (attr.type === "text") {
    return el("div", { class: "field" },
      el("label", { for: id, text: title }),
      el("input", { id, type: "text", value: value ?? "", disabled, "data-attr": attr.featureNodeHash,
        oninput: (e) => onChange(e.target.value) }));
  }
  const multiple = attr.type === "checklist";
  const chosen = new Set(multiple ? value ?? [] : value ? [value] : []);
  const inputs = (attr.options ?? []).map((option) => el("label", { class: "check" },
    el("input", {
      type: multiple ? "checkbox" : "radio", name: id, value: option.featureNodeHash, disabled,
      checked: chosen.has(option.featureNodeHash),
      onchange: (e) => {
        if (!multiple) { onChange(option.featureNodeHash); return; }
        const now = new Set(chosen);
        if (e.target.checked) now.add(option.featureNodeHash); else now.delete(option.featureNodeHash);
        onChange([...now]);
      },
    }), ` ${option.label}`));
  return el("fieldset", { class: "attr", "data-attr": attr.featureNodeHash }, el("legend", { text: title }), inputs);
}

export function renderPalette(box, objects, activeHash, readOnly, onPick) {
  box.replaceChildren(...objects.map((obj, i) => el("button", {
    type: "button", class: "class-chip", "aria-pressed": String(obj.featureNodeHash === activeHash),
    "data-class": obj.featureNodeHash, disabled: readOnly, title: `${obj.name} (${SHAPE_WORDS[obj.shape] ?? obj.shape})`,
    onclick: () => onPick(obj.featureNodeHash),
  },
  el("kbd", { text: i < 9 ? String(i + 1) : "" }),
  el("span", { class: "swatch", "data-color": obj.color }),
  el("span", { text: obj.name }),
  el("span", { class: "muted", text: SHAPE_WORDS[obj.shape] ?? obj.shape }))));
  for (const swatch of box.querySelectorAll("[data-color]")) swatch.style.background = swatch.dataset.color;
}

export function renderClassifications(box, classifications, state, readOnly, onAnswer) {
  if (!classifications.length) {
    box.replaceChildren(el("p", { class: "muted", text: "This ontology has no image classifications." }));
    return;
  }
  box.replaceChildren(...classifications.filter((cls) => cls.attributes[0].type !== "numeric").map((cls) => {
    const root = cls.attributes[0];
    return attributeField(root, state.classifications[cls.featureNodeHash]?.value, readOnly,
      (value) => onAnswer(cls.featureNodeHash, value));
  }));
}

export function renderObject(box, element, item, readOnly, onAnswer, onClass, classes) {
  if (!item) {
    box.replaceChildren(el("p", { class: "muted", text: "Select an object to see its class and attributes." }));
    return;
  }
  const sameShape = classes.filter((c) => c.shape === element.shape);
  const select = el("select", { id: "object-class", disabled: readOnly, onchange: (e) => onClass(e.target.value) },
    sameShape.map((c) => el("option", { value: c.featureNodeHash, selected: c.featureNodeHash === item.featureHash, text: c.name })));
  box.replaceChildren(
    el("div", { class: "field" }, el("label", { for: "object-class", text: "Class" }), select),
    ...(element.attributes ?? []).filter((attr) => attr.type !== "numeric").map((attr) => attributeField(attr, item.answers[attr.featureNodeHash], readOnly,
      (value) => onAnswer(attr.featureNodeHash, value))),
  );
}

export function renderObjectList(box, objects, byHash, selected, onSelect) {
  box.replaceChildren(...objects.map((item, i) => {
    const element = byHash.get(item.featureHash);
    return el("li", {},
      el("button", {
        type: "button", class: "object-row", "aria-pressed": String(item.objectHash === selected),
        "data-object": item.objectHash, onclick: () => onSelect(item.objectHash),
      }, el("span", { class: "swatch", "data-color": element?.color }), `${i + 1}. ${element?.name ?? "?"}`,
      el("span", { class: "muted", text: ` ${SHAPE_WORDS[element?.shape] ?? ""}` })));
  }));
  for (const swatch of box.querySelectorAll("[data-color]")) swatch.style.background = swatch.dataset.color;
}

export function helpDialog() {
  const dialog = el("dialog", { class: "help", "aria-labelledby": "help-title" },
    el("h2", { id: "help-title", text: "Keyboard shortcuts" }),
    el("table", { class: "table" }, el("tbody", {}, SHORTCUTS.map(([keys, what]) => el("tr", {},
      el("th", { scope: "row" }, el("kbd", { text: keys })), el("td", { text: what }))))),
    el("form", { method: "dialog" }, el("button", { class: "btn", text: "Close" })));
  document.body.append(dialog);
  return dialog;
}
