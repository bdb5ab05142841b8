// Small progressive enhancements shared by every page. Pages work without it.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});

document.addEventListener("click", async (event) => {
  const target = event.target instanceof Element ? event.target : null;
  const copy = target?.closest("[data-copy]");
  if (copy) {
    const source = document.getElementById(copy.dataset.copy);
    if (!source) return;
    const text = source.value ?? source.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      source.select?.();
      document.execCommand("copy");
    }
    const label = copy.textContent;
    copy.textContent = "Copied";
    setTimeout(() => { copy.textContent = label; }, 1500);
    return;
  }
  const format = target?.closest("[data-format-json]");
  if (format) {
    const area = format.form?.querySelector("textarea");
    if (!area) return;
    try {
      area.value = JSON.stringify(JSON.parse(area.value || "{}"), null, 2);
      area.removeAttribute("aria-invalid");
    } catch (err) {
      area.setAttribute("aria-invalid", "true");
      area.focus();
    }
  }
});

document.addEventListener("change", (event) => {
  const all = event.target instanceof HTMLInputElement && event.target.matches("[data-pick-all]")
    ? event.target : null;
  if (!all) return;
  for (const box of all.form?.querySelectorAll('input[name="task"]') ?? []) box.checked = all.checked;
});

// Colour swatches (ontology colours) are set through the CSSOM: the CSP allows no inline styles.
for (const swatch of document.querySelectorAll(".swatch[data-color]")) {
  swatch.style.background = swatch.dataset.color;
}

// Pages with deliveries in flight reload themselves until nothing is pending, unless
// the person is busy with a field.
const refresh = document.querySelector("[data-autorefresh]");
if (refresh) {
  setTimeout(function reloadWhenIdle() {
    const busy = document.activeElement?.matches("input, select, textarea") || document.querySelector("dialog[open]");
    if (busy) setTimeout(reloadWhenIdle, 1000);
    else window.location.reload();
  }, Number(refresh.dataset.autorefresh) || 2000);
}
