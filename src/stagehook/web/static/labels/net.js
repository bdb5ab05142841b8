// The workbench's requests: JSON with the page's session and CSRF token (the REST API
// accepts the signed-in session), and images decoded before they are shown.
const csrf = document.querySelector('meta[name="csrf-token"]').content;

export async function call(method, url, body) {
  const response = await fetch(url, {
    method, credentials: "same-origin",
    headers: { accept: "application/json", "content-type": "application/json", "x-csrf-token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    const error = new Error(data?.error?.message || `the server answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

// A decoded <img>: shown the moment it is needed (the browser cache keeps the bytes).
export function loadImage(url) {
  if (!url) return Promise.resolve(null); // a data unit without an image (labels as JSON)
  const img = new Image();
  img.decoding = "async";
  img.src = url;
  return img.decode().then(() => img);
}
