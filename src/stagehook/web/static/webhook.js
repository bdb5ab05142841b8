// The "Webhook" part of an Annotate or Complete stage's pop-up: the pencil turns the
// URL into a field (Enter confirms after the server checked it, Escape cancels); once
// the workflow is saved, the signing secret and "Send test event" appear. Saving while
// the field is open (or its check is still on the way) confirms it first: settle().
import { el, pencilIcon, post } from "./dom.js";

export function webhookControls({ cfg, popup, savedUrl, rerender, changed }) {
  const secrets = {};
  const results = {};
  let editing = false;
  let editingStage = null;
  let pending = Promise.resolve(true);

  function live(s) {
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
    const result = results[s.uuid];
    live.append(el("div", { class: "row" },
      el("button", { type: "button", class: "btn btn-small", text: "Send test event", "data-test": "", onclick: () => sendTest(s) })));
    const resultEl = el("p", { class: `test-result${result ? (result.ok ? " ok" : " bad") : ""}`, "data-test-result": "", "aria-live": "polite", role: "status", text: result ? result.text : "" });
    resultEl.hidden = !result;
    live.append(resultEl);
    return live;
  }

  function section(s) {
    const section = el("section", { class: "webhook", "aria-labelledby": "webhook-title", "data-webhook-section": "" },
      el("h3", { id: "webhook-title", text: "Webhook" }));
    const url = s.webhook?.url;
    if (editing) {
      const input = el("input", {
        id: "webhook-url", type: "url", value: url || "", autocomplete: "off", spellcheck: "false",
        placeholder: "https://example.com/hooks/stagehook", "aria-describedby": "webhook-help webhook-error",
      });
      editingStage = s;
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") { event.preventDefault(); pending = confirmUrl(s, input); }
        if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); cancel(); }
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
      const edit = el("button", { type: "button", class: "icon-btn", "aria-label": "Edit webhook URL", title: "Edit webhook URL", "data-edit-webhook": "", onclick: () => { editing = true; rerender(); } });
      edit.append(pencilIcon());
      view.append(edit);
    }
    section.append(view);
    if (url && cfg.editable) {
      section.append(el("button", { type: "button", class: "btn-link danger", text: "Remove webhook", onclick: () => { delete s.webhook; changed(); } }));
    }
    const settled = cfg.mode === "project" && url && savedUrl(s.uuid) === url;
    if (settled && cfg.editable) section.append(live(s));
    else if (url && cfg.mode === "project") section.append(el("p", { class: "hint", text: "Save the workflow to create this webhook's signing secret and send a test event." }));
    else if (cfg.mode !== "project") section.append(el("p", { class: "hint", text: "Each webhook gets its signing secret when the project is saved." }));
    return section;
  }

  async function confirmUrl(s, input) {
    const value = input.value.trim();
    const error = popup.querySelector("[data-webhook-error]");
    if (!value) {
      delete s.webhook;
      editing = false;
      changed();
      popup.querySelector("[data-edit-webhook]")?.focus();
      return true;
    }
    try {
      const checked = await post("/ui/webhook-url", { url: value });
      s.webhook = { url: checked.url };
      editing = false;
      changed();
      popup.querySelector("[data-edit-webhook]")?.focus();
      return true;
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return false;
    }
  }

  // Resolves true once no URL edit is open or on its way (false: the server refused it).
  async function settle() {
    const input = editing ? popup.querySelector("#webhook-url") : null;
    if (input && editingStage) pending = confirmUrl(editingStage, input);
    return pending;
  }

  function cancel() {
    editing = false;
    rerender();
    popup.querySelector("[data-edit-webhook]")?.focus();
  }

  function hookUrl(s, what) {
    return `/projects/${cfg.project_hash}/stages/${s.uuid}/webhook/${what}`;
  }

  async function secretAction(s, what) {
    try {
      const data = await post(hookUrl(s, what));
      secrets[s.uuid] = data.signing_secret;
      if (what === "rotate") results[s.uuid] = { ok: true, text: "New secret in use; the old one is still accepted during the grace period." };
    } catch (err) {
      results[s.uuid] = { ok: false, text: err.message };
    }
    rerender();
  }

  async function sendTest(s) {
    results[s.uuid] = { ok: true, text: "Sending…" };
    rerender();
    try {
      const r = await post(hookUrl(s, "test"));
      const code = r.status_code ? `HTTP ${r.status_code}` : (r.error_class || "no response");
      results[s.uuid] = r.success
        ? { ok: true, text: `Delivered: ${code} in ${r.duration_ms} ms.` }
        : { ok: false, text: `Failed: ${code}${r.error ? ` (${r.error})` : ""} after ${r.duration_ms} ms.${r.response_excerpt ? ` Response: ${r.response_excerpt}` : ""}` };
    } catch (err) {
      results[s.uuid] = { ok: false, text: err.message };
    }
    rerender();
    popup.querySelector("[data-test]")?.focus();
  }

  return {
    section,
    cancel,
    settle,
    get editing() { return editing; },
    reset() { editing = false; pending = Promise.resolve(true); },
  };
}
