// Drag-and-drop (or pick) images onto the dataset page: each file goes to the uploads
// API with the page's session, a few at a time, with progress and the server's own
// error message (wrong type 415, corrupt 422, too large 413) next to the file.
import { el } from "../dom.js";

const PARALLEL = 3;
const zone = document.querySelector("[data-dropzone]");
const input = document.querySelector("[data-upload-input]");
const list = document.querySelector("[data-upload-list]");
const summary = document.querySelector("[data-upload-summary]");
const table = document.querySelector("[data-units] tbody");
const csrf = document.querySelector('meta[name="csrf-token"]').content;

function send(file, row) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    const body = new FormData();
    body.append("files", file, file.name);
    xhr.open("POST", `/api/v1/datasets/${zone.dataset.dropzone}/uploads`);
    xhr.setRequestHeader("x-csrf-token", csrf);
    xhr.setRequestHeader("accept", "application/json");
    xhr.upload.onprogress = (event) => { if (event.lengthComputable) row.bar.value = event.loaded / event.total; };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status >= 200 && xhr.status < 300) {
        row.bar.value = 1;
        row.state.textContent = "uploaded";
        document.querySelector("[data-no-units]")?.remove();
        const count = document.querySelector("[data-unit-count]");
        if (count) count.textContent = String((Number.parseInt(count.textContent, 10) || 0) + (data.data_units ?? []).length);
        for (const unit of data.data_units ?? []) {
          table?.append(el("tr", {}, el("td", { text: unit.title }),
            el("td", {}, el("code", { title: unit.data_hash, text: unit.data_hash.slice(0, 8) }))));
        }
        resolve(true);
      } else {
        row.item.classList.add("failed");
        row.state.textContent = data?.error?.message ?? `failed (${xhr.status})`;
        resolve(false);
      }
    };
    xhr.onerror = () => {
      row.item.classList.add("failed");
      row.state.textContent = "the connection failed; try again";
      resolve(false);
    };
    xhr.send(body);
  });
}

async function upload(files) {
  const queue = [...files].map((file) => {
    const bar = el("progress", { max: "1", value: "0", "aria-label": `${file.name} progress` });
    const state = el("span", { text: "waiting" });
    const item = el("li", { "data-upload": file.name }, el("span", { text: file.name }), bar, state);
    list.append(item);
    return { file, row: { item, bar, state } };
  });
  let done = 0;
  let failed = 0;
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      next.row.state.textContent = "uploading";
      if (await send(next.file, next.row)) done += 1; else failed += 1;
      summary.textContent = `${done} uploaded${failed ? `, ${failed} failed` : ""}`;
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
}

if (zone) {
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) zone.addEventListener(name, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    upload(event.dataTransfer.files);
  });
  input.addEventListener("change", () => { upload(input.files); input.value = ""; });
}
