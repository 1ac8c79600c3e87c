// bioveil app: the page. Plain JavaScript, no framework, no build step; it talks only to its own server.
// Every string from a file (names, metadata) goes into the page as text, never as HTML.

const $ = (id) => document.getElementById(id);
const state = { items: new Map(), persons: [], jobs: new Map(), filter: null, editing: null, after: false, drawing: false };

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

async function api(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (body instanceof Blob) init.body = body;
  else if (body !== undefined) { init.body = JSON.stringify(body); init.headers["content-type"] = "application/json"; }
  const response = await fetch(path, init);
  if (!response.ok) {
    let detail = await response.text();
    try { detail = JSON.parse(detail).detail ?? detail; } catch { /* plain text */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response.json();
}

// ------------------------------------------------------------------------------------------- adding files

const UPLOADS_AT_ONCE = 3;

async function addFiles(files) {
  // A few uploads at once; the scan starts after the first few arrive and again for the rest
  // (the server's batch runner skips what is scanned, so the second pass computes only the new files).
  const added = [];
  const queue = [...files];
  let started = false;
  const upload = async (file) => {
    const placeholder = { id: `up-${Math.random().toString(16).slice(2)}`, name: file.webkitRelativePath || file.name, uploading: true };
    state.items.set(placeholder.id, placeholder);
    render();
    try {
      const item = await api("PUT", `/api/items?name=${encodeURIComponent(file.name)}`, file);
      state.items.delete(placeholder.id);
      state.items.set(item.id, item);
      added.push(item.id);
    } catch (error) {
      Object.assign(placeholder, { uploading: false, uploadError: error.message });
    }
    render();
    if (!started && added.length >= UPLOADS_AT_ONCE * 2 && queue.length) {
      started = true;
      await api("POST", "/api/scan", { ids: added.slice() });
    }
  };
  const worker = async () => { while (queue.length) await upload(queue.shift()); };
  await Promise.all(Array.from({ length: UPLOADS_AT_ONCE }, worker));
  if (added.length) await api("POST", "/api/scan", {});
}

function setUpAdding() {
  for (const id of ["pick-files", "pick-folder"]) {
    $(id).addEventListener("change", (event) => { addFiles([...event.target.files]); event.target.value = ""; });
  }
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    addFiles([...event.dataTransfer.files]);
  });
  $("camera").addEventListener("click", openCamera);
}

// ------------------------------------------------------------------------------------------- camera

let cameraStream = null;

async function openCamera() {
  const dialog = $("camera-dialog");
  $("camera-info").textContent = "";
  dialog.showModal();
  try {
    cameraStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    $("camera-video").srcObject = cameraStream;
  } catch (error) {
    $("camera-info").textContent = `No camera: ${error.message}`;
  }
}

function closeCamera() {
  if (cameraStream) for (const track of cameraStream.getTracks()) track.stop();
  cameraStream = null;
  $("camera-dialog").close();
}

function shoot() {
  const video = $("camera-video");
  if (!video.videoWidth) return;
  const canvas = el("canvas", { width: video.videoWidth, height: video.videoHeight });
  canvas.getContext("2d").drawImage(video, 0, 0);
  canvas.toBlob((blob) => {
    const stamp = new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
    addFiles([new File([blob], `camera-${stamp}.jpg`, { type: "image/jpeg" })]);
    closeCamera();
  }, "image/jpeg", 0.92);
}

// ------------------------------------------------------------------------------------------- edits

function sameBox(a, b) { return a.every((value, i) => Math.abs(value - b[i]) < 0.5); }
function isKept(item, face) { return (item.edits?.keep ?? []).some((box) => sameBox(box, face.box)); }

async function saveEdits(item) {
  const saved = await api("PUT", `/api/items/${item.id}/edits`, item.edits);
  state.items.set(item.id, { ...item, ...saved });
  render();
  if (state.editing === item.id) renderEditor();
}

function toggleFace(item, face) {
  const keep = item.edits.keep.filter((box) => !sameBox(box, face.box));
  if (keep.length === item.edits.keep.length) keep.push(face.box);
  item.edits.keep = keep;
  saveEdits(item);
}

async function keepPerson(person, keep) {
  for (const item of state.items.values()) {
    const faces = (item.faces ?? []).filter((face) => face.person === person.id);
    if (!faces.length) continue;
    let boxes = item.edits.keep.filter((box) => !faces.some((face) => sameBox(box, face.box)));
    if (keep) boxes = boxes.concat(faces.map((face) => face.box));
    item.edits.keep = boxes;
    await saveEdits(item);
  }
}

// ------------------------------------------------------------------------------------------- rendering

function faceButtons(item, container, editable) {
  container.replaceChildren();
  if (!item.width || !item.height) return;
  const place = (node, box) => {
    node.style.left = `${(100 * box[0]) / item.width}%`;
    node.style.top = `${(100 * box[1]) / item.height}%`;
    node.style.width = `${(100 * (box[2] - box[0])) / item.width}%`;
    node.style.height = `${(100 * (box[3] - box[1])) / item.height}%`;
  };
  (item.faces ?? []).forEach((face, index) => {
    const kept = isKept(item, face);
    const label = `Face ${index + 1}${face.person ? ` (person ${face.person})` : ""}: ${kept ? "kept unmasked" : "masked"}. Press to ${kept ? "mask it" : "keep it unmasked"}.`;
    const node = item.kind === "video"
      ? el("span", { class: "face", title: `Face ${index + 1}` })
      : el("button", { type: "button", class: "face", "aria-pressed": String(kept), "aria-label": label, title: label,
        "data-face": index, onclick: (event) => { event.stopPropagation(); toggleFace(item, face); } });
    place(node, face.box);
    container.append(node);
  });
  if (!editable) return;
  (item.edits?.draw ?? []).forEach((box, index) => {
    const node = el("button", { type: "button", class: "face drawn", "aria-label": `Drawn box ${index + 1}: masked. Press to remove it.`,
      "data-drawn": index, onclick: () => { item.edits.draw.splice(index, 1); saveEdits(item); } });
    place(node, box);
    container.append(node);
  });
}

function chips(found) {
  return el("ul", { class: "chips" }, ...found.map((entry) => el("li", { class: `chip ${entry.severity}`, text: entry.label, title: `It ${entry.says}` })));
}

function card(item) {
  const failed = item.uploadError || item.status === "failed";
  const node = el("li", { class: `card${failed ? " failed" : ""}`, "data-item": item.id, "data-name": item.name });
  if (item.uploading) return node.appendChild(el("p", { class: "status", text: `${item.name}: uploading…` })) && node;
  if (item.uploadError) {
    node.append(el("h3", { text: item.name }), el("p", { class: "error", text: item.uploadError }));
    return node;
  }
  node.append(el("h3", { text: item.name }));
  if (!item.scanned) {
    node.append(el("p", { class: "status", text: "waiting to be checked…" }));
    return node;
  }
  const thumb = el("div", { class: "thumb" }, el("img", { src: `/api/items/${item.id}/thumbnail`, alt: `${item.name}`, loading: "lazy" }));
  const boxes = el("div", { class: "boxes" });
  thumb.append(boxes);
  if (item.status === "failed") {
    node.append(el("p", { class: "error", text: `${item.error.plain} (${item.error.type})` }), el("p", { class: "small", text: item.error.message }));
    return node;
  }
  faceButtons(item, boxes, false);
  const faces = item.faces.length;
  const kept = item.faces.filter((face) => isKept(item, face)).length;
  node.append(thumb, chips(item.found));
  const words = item.kind === "video" ? `video: ${faces} face${faces === 1 ? "" : "s"} seen in sampled frames, every face masked`
    : `${faces} face${faces === 1 ? "" : "s"}${kept ? `, ${kept} kept unmasked` : ""}${item.edits.draw.length ? `, ${item.edits.draw.length} drawn` : ""}${item.edits.cloak ? "; cloaked, not masked" : ""}`;
  node.append(el("p", { class: "status", text: words }));
  if (item.kind !== "video") node.append(el("button", { type: "button", text: "Open and edit", onclick: () => openEditor(item.id) }));
  return node;
}

// Cards are rebuilt only when their item changed, at most once a frame: a batch of hundreds stays light.
const cards = new Map();
let pending = false;

function render() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; draw(); });
}

function cardFor(item) {
  const key = JSON.stringify(item);
  const known = cards.get(item.id);
  if (known && known.key === key) return known.node;
  const node = card(item);
  cards.set(item.id, { key, node });
  return node;
}

function draw() {
  const items = [...state.items.values()];
  $("photos").hidden = $("take").hidden = !items.length;
  const shown = state.filter ? items.filter((item) => state.filter.items.includes(item.id)) : items;
  $("filter").hidden = !state.filter;
  if (state.filter) $("filter-text").textContent = `Photos of person ${state.filter.id} (${state.filter.items.length}).`;
  for (const id of cards.keys()) if (!state.items.has(id)) cards.delete(id);
  const nodes = shown.map(cardFor);
  const list = $("cards");
  if (nodes.length !== list.children.length || nodes.some((node, i) => list.children[i] !== node)) list.replaceChildren(...nodes);
  renderExposure(items);
}

function renderExposure(items) {
  const scanned = items.filter((item) => item.scanned && item.status === "ok");
  $("exposure").hidden = !scanned.length;
  const counts = new Map();
  for (const item of scanned) for (const entry of item.found) {
    const seen = counts.get(entry.key) ?? { ...entry, count: 0 };
    seen.count += 1;
    counts.set(entry.key, seen);
  }
  const faces = scanned.reduce((total, item) => total + item.faces.length, 0);
  const order = { high: 0, medium: 1, low: 2 };
  const lines = [...counts.values()].sort((a, b) => order[a.severity] - order[b.severity] || b.count - a.count)
    .map((entry) => el("li", { text: `${entry.count} of ${scanned.length} file${scanned.length === 1 ? "" : "s"}: ${entry.label.toLowerCase()} (it ${entry.says})` }));
  lines.unshift(el("li", { text: `${faces} face${faces === 1 ? "" : "s"} in ${scanned.length} file${scanned.length === 1 ? "" : "s"}; ${state.persons.length} ${state.persons.length === 1 ? "person" : "people"} recognisable across photos` }));
  const failed = items.filter((item) => item.status === "failed" || item.uploadError).length;
  if (failed) lines.push(el("li", { class: "error", text: `${failed} file${failed === 1 ? "" : "s"} could not be read (see their cards)` }));
  $("risks").replaceChildren(...lines);
  $("people-block").hidden = !state.persons.length;
  $("people").replaceChildren(...state.persons.map((person) => {
    const everyFace = [...state.items.values()].flatMap((item) => (item.faces ?? []).filter((face) => face.person === person.id).map((face) => isKept(item, face)));
    const kept = everyFace.length > 0 && everyFace.every(Boolean);
    return el("li", { "data-person": person.id },
      el("button", { type: "button", text: `Person ${person.id}: ${person.items.length} photos`, onclick: () => { state.filter = person; render(); } }), " ",
      el("button", { type: "button", "aria-pressed": String(kept), text: kept ? "Kept unmasked" : "Keep unmasked",
        onclick: () => keepPerson(person, !kept) }));
  }));
}

// ------------------------------------------------------------------------------------------- the editor

function openEditor(id) {
  state.editing = id;
  state.after = false;
  state.drawing = false;
  $("editor").showModal();
  renderEditor();
}

function renderEditor() {
  const item = state.items.get(state.editing);
  if (!item) return;
  $("editor-title").textContent = item.name;
  $("show-after").setAttribute("aria-pressed", String(state.after));
  $("show-after").textContent = state.after ? "Show original" : "Show masked";
  $("draw").setAttribute("aria-pressed", String(state.drawing));
  $("stage").classList.toggle("drawing", state.drawing);
  $("cloak").checked = item.edits.cloak;
  const version = encodeURIComponent(JSON.stringify(item.edits) + $("method").value + $("shape").value);
  const img = $("stage-img");
  const src = state.after ? `/api/items/${item.id}/preview?masked=true&v=${version}` : `/api/items/${item.id}/preview`;
  if (img.getAttribute("src") !== src) { img.src = src; img.alt = state.after ? `${item.name}, masked` : item.name; }
  $("full").href = state.after ? `/api/items/${item.id}/preview?masked=true&full=true&v=${version}` : `/api/items/${item.id}/preview?full=true`;
  faceButtons(item, $("stage-boxes"), true);
  $("stage-boxes").hidden = state.after;
  $("editor-info").textContent = state.drawing ? "Drag over the face to mask (mouse or finger)." :
    `${item.faces.length} faces found; red ones are masked, dashed green ones kept, purple ones drawn by you.`;
}

function setUpEditor() {
  $("editor-close").addEventListener("click", () => { $("editor").close(); });
  $("editor").addEventListener("close", () => { state.editing = null; });
  $("show-after").addEventListener("click", () => { state.after = !state.after; state.drawing = false; renderEditor(); });
  $("draw").addEventListener("click", () => { state.drawing = !state.drawing; state.after = false; renderEditor(); });
  $("cloak").addEventListener("change", (event) => {
    const item = state.items.get(state.editing);
    item.edits.cloak = event.target.checked;
    saveEdits(item);
  });
  const stage = $("stage");
  let start = null;
  let ghost = null;
  const point = (event) => {
    const item = state.items.get(state.editing);
    const rect = $("stage-img").getBoundingClientRect();
    const x = Math.min(Math.max(event.clientX - rect.left, 0), rect.width);
    const y = Math.min(Math.max(event.clientY - rect.top, 0), rect.height);
    return [(x / rect.width) * item.width, (y / rect.height) * item.height, x, y];
  };
  stage.addEventListener("pointerdown", (event) => {
    if (!state.drawing) return;
    event.preventDefault();
    stage.setPointerCapture(event.pointerId);
    start = point(event);
    ghost = el("div", { class: "face drawn" });
    $("stage-boxes").append(ghost);
  });
  stage.addEventListener("pointermove", (event) => {
    if (!start) return;
    const now = point(event);
    Object.assign(ghost.style, { left: `${Math.min(start[2], now[2])}px`, top: `${Math.min(start[3], now[3])}px`,
      width: `${Math.abs(now[2] - start[2])}px`, height: `${Math.abs(now[3] - start[3])}px` });
  });
  stage.addEventListener("pointerup", (event) => {
    if (!start) return;
    const end = point(event);
    const item = state.items.get(state.editing);
    const box = [Math.min(start[0], end[0]), Math.min(start[1], end[1]), Math.max(start[0], end[0]), Math.max(start[1], end[1])];
    start = null;
    if (box[2] - box[0] >= 4 && box[3] - box[1] >= 4) {
      item.edits.draw.push(box.map((value) => Math.round(value * 10) / 10));
      state.drawing = false;
      saveEdits(item);
    } else renderEditor();
  });
}

// ------------------------------------------------------------------------------------------- jobs and downloads

function showJob(job) {
  state.jobs.set(job.id, job);
  const running = [...state.jobs.values()].filter((entry) => entry.state === "running" || entry.state === "queued");
  const bar = $("progress");
  bar.hidden = !running.length;
  if (running.length) {
    const current = running[0];
    let text = `${current.kind === "scan" ? "Checking" : "Masking"}: ${current.done} of ${current.total} files`;
    if (current.frames_total) {
      const left = current.frames ? (current.elapsed_s / current.frames) * (current.frames_total - current.frames) : null;
      text += `, video frames ${current.frames} of ${current.frames_total}${left !== null ? `, about ${Math.ceil(left)} s left` : ""}`;
    } else if (current.left_s !== null) text += `, about ${Math.ceil(current.left_s)} s left`;
    if (current.message) text += ` (${current.message})`;
    $("progress-text").textContent = text;
    $("progress-bar").value = current.total ? current.done / current.total : 0;
    $("cancel").dataset.job = current.id;
  }
  if (job.state === "done" && job.kind === "scan") refresh();
  if (job.kind === "export" && ["done", "failed", "cancelled"].includes(job.state)) showExport(job);
}

function showExport(job) {
  $("export").disabled = false;
  const result = $("result");
  result.hidden = false;
  if (job.state !== "done") {
    $("zip").hidden = true;
    $("result-files").replaceChildren(el("li", { class: "error", text: job.message || job.state }));
    return;
  }
  $("zip").hidden = false;
  $("zip").href = job.result.download;
  $("result-files").replaceChildren(...job.result.files.map((entry) => {
    if (entry.status !== "ok") return el("li", { class: "error", text: `${entry.name}: ${entry.plain} (${entry.error}). ${entry.message ?? ""}` });
    const removed = entry.removed.length ? `removed: ${entry.removed.join(", ").toLowerCase()}` : "no identifying metadata was in it";
    const renamed = entry.download_name !== entry.name ? ` (saved as ${entry.download_name}: ${entry.notes.join("; ") || "its format"})` : "";
    return el("li", {}, el("a", { href: `/api/items/${entry.item}/download`, download: entry.download_name, text: entry.download_name }),
      document.createTextNode(`${renamed}; ${removed}`));
  }));
}

async function refresh() {
  const data = await api("GET", "/api/state");
  const uploading = [...state.items.values()].filter((item) => item.uploading || item.uploadError);
  state.items = new Map(data.items.map((item) => [item.id, item]));
  for (const item of uploading) state.items.set(item.id, item);
  state.persons = data.persons;
  $("method").value = data.settings.method;
  $("shape").value = data.settings.shape;
  for (const job of data.jobs) state.jobs.set(job.id, job);
  render();
}

function listen() {
  const source = new EventSource("/api/events");
  source.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "job") showJob(message.job);
    else if (message.item) { state.items.set(message.item.id, message.item); render(); }
  };
}

function setUpTaking() {
  const save = () => api("PUT", "/api/settings", { method: $("method").value, shape: $("shape").value });
  $("method").addEventListener("change", save);
  $("shape").addEventListener("change", save);
  $("export").addEventListener("click", async () => {
    $("export").disabled = true;
    $("result").hidden = true;
    await save();
    await api("POST", "/api/export");
  });
  $("cancel").addEventListener("click", () => { if ($("cancel").dataset.job) api("POST", `/api/jobs/${$("cancel").dataset.job}/cancel`); });
  $("filter-clear").addEventListener("click", () => { state.filter = null; render(); });
  $("camera-shoot").addEventListener("click", shoot);
  $("camera-close").addEventListener("click", closeCamera);
}

setUpAdding();
setUpEditor();
setUpTaking();
listen();
refresh();
