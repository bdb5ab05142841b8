// Buttons and keyboard shortcuts of the workbench (the help overlay lists them all:
// panel.js SHORTCUTS). Installed on window in the capture phase so Ctrl+Z reaches our
// undo (which covers points and classifications too) before Annotorious's own.
import { isTyping } from "./stage.js";

export function bindControls(bench, root, config) {
  root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-do]");
    if (!button) return;
    const what = button.dataset.do;
    if (what === "help") toggleHelp(bench);
    else if (what === "undo") bench.travel(bench.undo, bench.redo);
    else if (what === "redo") bench.travel(bench.redo, bench.undo);
    else if (what === "fit") bench.stage.fit();
    else if (what === "keep-mine") bench.resolve(true);
    else if (what === "take-theirs") bench.resolve(false);
    else if (what === "select") bench.pick(null);
    else bench.advance(what);
  });
  window.addEventListener("keydown", (event) => key(bench, config, event), true);
  root.querySelector("[data-advanced]").addEventListener("toggle", () => bench.showJson());
  window.addEventListener("popstate", () => window.location.reload());
}

function toggleHelp(bench) {
  if (bench.help.open) bench.help.close(); else bench.help.showModal();
}

function key(bench, config, event) {
  const ctrl = event.ctrlKey || event.metaKey;
  const k = event.key;
  if (ctrl && (k === "z" || k === "Z" || k === "y")) {
    if (isTyping(event)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (k === "y" || event.shiftKey) bench.travel(bench.redo, bench.undo); else bench.travel(bench.undo, bench.redo);
    return;
  }
  if (ctrl && k === "Enter") {
    event.preventDefault();
    bench.advance(config.stage_type === "REVIEW" ? "APPROVE" : "SUBMIT");
    return;
  }
  if (isTyping(event) || ctrl) return;
  if (k === "?") { event.preventDefault(); toggleHelp(bench); return; }
  if (bench.help.open) return;
  if (event.altKey && /^Digit[1-9]$/.test(event.code)) {
    const radio = (bench.structure.classifications ?? []).find((c) => c.attributes[0]?.type === "radio");
    const option = radio?.attributes[0].options?.[Number(event.code.slice(5)) - 1];
    if (option && !config.read_only) {
      event.preventDefault();
      bench.answerClassification(radio.featureNodeHash, option.featureNodeHash);
      bench.renderAll();
    }
    return;
  }
  if (event.altKey) return;
  if (/^[1-9]$/.test(k) && bench.classes[Number(k) - 1]) { event.preventDefault(); bench.pick(bench.classes[Number(k) - 1].featureNodeHash); }
  else if (k === "Escape" || k === "v" || k === "V") { bench.stage.anno?.cancelDrawing(); bench.pick(null); }
  else if ((k === "Delete" || k === "Backspace") && !config.read_only) { event.preventDefault(); bench.removeSelected(); }
  else if (k === "Tab" && (event.target === document.body || event.target.closest?.("[data-stage]"))) { event.preventDefault(); bench.cycle(event.shiftKey ? -1 : 1); }
  else if (k === "+" || k === "=") bench.stage.zoomBy(1.25);
  else if (k === "-" || k === "_") bench.stage.zoomBy(0.8);
  else if (k === "0") bench.stage.fit();
}
