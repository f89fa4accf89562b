// The page of colorcli serve: a queue of photos, a before/after view, colour hints,
// downloads. Plain JavaScript, nothing loaded from elsewhere; the API is documented in
// docs/usage.md.
"use strict";

// Interactive results are computed on a copy of at most this many pixels a side (the
// model sees far fewer); downloads send the original file.
const PREVIEW_SIDE = 1280;
const RENDER_DELAY_MS = 150;

const $ = (id) => document.getElementById(id);
const state = {
  items: [],
  current: null,
  served: null,
  selectedHint: null,
  colour: "#c0392b",
  reference: null,
  referenceUrl: null,
  busy: false,
  nextId: 1,
};

// ---------------------------------------------------------------- messages

function say(text, isError = false) {
  const message = $("message");
  message.textContent = text;
  message.classList.toggle("error", isError);
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) {
    // not JSON: fall through to the status line
  }
  return `${response.status} ${response.statusText}`;
}

// ---------------------------------------------------------------- models

async function loadModels() {
  const response = await fetch("/api/models");
  if (!response.ok) {
    say(await errorText(response), true);
    return;
  }
  const answer = await response.json();
  state.served = answer.served;
  const select = $("model");
  select.replaceChildren();
  const served = document.createElement("option");
  served.value = answer.served.name;
  const isDefault = answer.models.some((entry) => entry.default && entry.name === answer.served.name);
  served.textContent = answer.served.name + (isDefault ? " (default)" : "");
  select.append(served);
  for (const entry of answer.models) {
    if (!entry.local || entry.name === answer.served.name) continue;
    const option = document.createElement("option");
    option.value = entry.name;
    option.textContent = entry.name + (entry.default ? " (default)" : "");
    option.title = entry.description;
    select.append(option);
  }
  $("saturation").value = String(answer.served.saturation);
  $("saturation-value").textContent = Number(answer.served.saturation).toFixed(2);
  updateModelAbilities();
  document.body.dataset.ready = "1";
}

function servedSelected() {
  return state.served !== null && $("model").value === state.served.name;
}

// Only the served model's abilities are known ahead; others answer with an error.
function updateModelAbilities() {
  const confidence = $("confidence");
  const known = servedSelected();
  confidence.disabled = known && !state.served.confidence;
  if (confidence.disabled) confidence.checked = false;
  $("confidence-label").title = confidence.disabled
    ? "This model regresses colour and has no confidence map" : "";
}

// ---------------------------------------------------------------- queue

function addFiles(files) {
  for (const file of files) {
    if (!file.type.startsWith("image/") && !/\.(tiff?|bmp|webp|jp2|avif)$/i.test(file.name)) {
      say(`${file.name}: not an image`, true);
      continue;
    }
    const item = {
      id: state.nextId++, file, name: file.name, width: 0, height: 0, scale: 1,
      preview: null, previewUrl: null, resultUrl: null, confidenceUrl: null,
      hints: [], status: "waiting", version: 0, dirty: false, li: null,
    };
    item.li = queueEntry(item);
    state.items.push(item);
  }
  processQueue();
}

function queueEntry(item) {
  const li = document.createElement("li");
  li.dataset.id = String(item.id);
  const thumb = document.createElement("img");
  thumb.alt = "";
  const text = document.createElement("div");
  const name = document.createElement("div");
  name.className = "name";
  name.textContent = item.name;
  name.title = item.name;
  const status = document.createElement("div");
  status.className = "status";
  text.append(name, status);
  li.append(thumb, text);
  li.addEventListener("click", () => selectItem(item));
  $("queue").append(li);
  return li;
}

function setStatus(item, status, text) {
  item.status = status;
  item.li.dataset.status = status;
  item.li.querySelector(".status").textContent = text || status;
}

async function processQueue() {
  if (state.busy) return;
  state.busy = true;
  try {
    for (;;) {
      const waiting = state.items.filter((item) => item.status === "waiting");
      if (waiting.length === 0) break;
      const item = waiting[0];
      showProgress("Colourizing");
      setStatus(item, "working", "colourizing…");
      try {
        await preparePreview(item);
        if (state.current === null) selectItem(item);
        await render(item);
      } catch (error) {
        setStatus(item, "failed", String(error.message || error));
      }
    }
  } finally {
    state.busy = false;
    hideProgress();
    updateButtons();
  }
}

function showProgress(what, done, total) {
  const finished = done ?? state.items.filter((i) => i.status === "done" || i.status === "failed").length;
  const all = total ?? state.items.length;
  $("progress-box").hidden = false;
  $("progress").max = all;
  $("progress").value = finished;
  $("progress-text").textContent = `${what}: ${finished} of ${all}`;
}

function hideProgress() {
  $("progress-box").hidden = true;
}

function updateButtons() {
  const done = state.items.filter((item) => item.status === "done");
  $("download").disabled = !(state.current && state.current.status === "done");
  $("download-all").disabled = done.length < 2;
}

// A copy small enough to colourize interactively, in the orientation the server reads.
async function preparePreview(item) {
  let bitmap = null;
  try {
    bitmap = await createImageBitmap(item.file);
  } catch (_) {
    bitmap = null; // a format this browser cannot show (e.g. TIFF): send the file itself
  }
  if (bitmap === null) {
    item.preview = item.file;
    item.previewUrl = URL.createObjectURL(item.file);
    return;
  }
  item.width = bitmap.width;
  item.height = bitmap.height;
  const side = Math.max(bitmap.width, bitmap.height);
  const browserFormat = /^image\/(png|jpeg)$/.test(item.file.type);
  if (side <= PREVIEW_SIDE && browserFormat) {
    item.preview = item.file;
  } else {
    const scale = Math.min(1, PREVIEW_SIDE / side);
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    item.preview = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    item.scale = canvas.width / bitmap.width;
  }
  bitmap.close();
  item.previewUrl = URL.createObjectURL(item.preview);
  item.li.querySelector("img").src = item.previewUrl;
}

// ---------------------------------------------------------------- requests

function settingsForm(file, filename, hints) {
  const form = new FormData();
  form.append("image", file, filename);
  if (hints.length) form.append("hints", JSON.stringify(hints));
  form.append("saturation", $("saturation").value);
  form.append("model", $("model").value);
  if (state.reference) form.append("reference", state.reference, state.reference.name);
  return form;
}

function scaledHints(item, scale) {
  return item.hints.map((hint) => ({
    x: Math.min(Math.round(hint.x * scale), Math.max(0, Math.round(item.width * scale) - 1)),
    y: Math.min(Math.round(hint.y * scale), Math.max(0, Math.round(item.height * scale) - 1)),
    color: hint.color,
  }));
}

async function post(path, form) {
  const response = await fetch(path, { method: "POST", body: form });
  if (!response.ok) throw new Error(await errorText(response));
  return response;
}

// Colourize the preview with the item's hints and the page's settings.
async function render(item) {
  const version = ++item.version;
  item.dirty = false;
  const hints = scaledHints(item, item.scale);
  try {
    const response = await post("/api/colorize", settingsForm(item.preview, item.name, hints));
    const blob = await response.blob();
    let confidence = null;
    if ($("confidence").checked) {
      const answer = await post("/api/confidence", settingsForm(item.preview, item.name, hints));
      confidence = await answer.blob();
    }
    if (version !== item.version) return; // a newer render is on its way
    replaceUrl(item, "resultUrl", blob);
    replaceUrl(item, "confidenceUrl", confidence);
    if (!item.width) { // the browser could not read the file: take the result's size
      const size = await imageSize(item.resultUrl);
      item.width = size.width;
      item.height = size.height;
    }
    item.li.querySelector("img").src = item.resultUrl;
    setStatus(item, "done", hints.length ? `${hints.length} hint(s)` : "done");
    if (item === state.current) {
      say("");
      showItem(item);
      const viewer = $("viewer");
      viewer.dataset.hints = JSON.stringify(hints); // what the shown result was made with
      viewer.dataset.renders = String(Number(viewer.dataset.renders) + 1);
    }
  } catch (error) {
    if (version !== item.version) return;
    if (item.status !== "done") setStatus(item, "failed", "failed");
    if (item === state.current) say(`${item.name}: ${error.message}`, true);
    if (item !== state.current) throw error;
  } finally {
    updateButtons();
  }
}

function replaceUrl(item, key, blob) {
  if (item[key]) URL.revokeObjectURL(item[key]);
  item[key] = blob ? URL.createObjectURL(blob) : null;
}

function imageSize(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve({ width: image.naturalWidth, height: image.naturalHeight });
    image.onerror = () => reject(new Error("the result is not an image"));
    image.src = url;
  });
}

let renderTimer = null;
function scheduleRender(item) {
  clearTimeout(renderTimer);
  renderTimer = setTimeout(() => render(item).catch(() => {}), RENDER_DELAY_MS);
}

// Settings changed: the current photo again now, the others when they are shown.
function settingsChanged() {
  for (const item of state.items) if (item.status === "done") item.dirty = true;
  if (state.current && state.current.status !== "waiting") scheduleRender(state.current);
}

// ---------------------------------------------------------------- viewer

function selectItem(item) {
  state.current = item;
  state.selectedHint = null;
  for (const other of state.items) other.li.classList.toggle("current", other === item);
  $("viewer").hidden = false;
  $("placeholder").hidden = true;
  say(item.status === "failed" ? item.li.querySelector(".status").textContent : "",
    item.status === "failed");
  showItem(item);
  if (item.dirty) scheduleRender(item);
  updateButtons();
}

function showItem(item) {
  const confidence = $("confidence").checked && item.confidenceUrl;
  $("after").src = (confidence ? item.confidenceUrl : item.resultUrl) || item.previewUrl || "";
  $("before").src = item.previewUrl || "";
  drawHints(item);
}

function drawHints(item) {
  const layer = $("hints");
  layer.replaceChildren();
  for (const hint of item.hints) {
    const marker = document.createElement("div");
    marker.className = "hint" + (hint === state.selectedHint ? " selected" : "");
    marker.style.left = `${((hint.x + 0.5) / item.width) * 100}%`;
    marker.style.top = `${((hint.y + 0.5) / item.height) * 100}%`;
    marker.style.background = hint.color;
    marker.title = `${hint.x},${hint.y}=${hint.color}`;
    marker.addEventListener("pointerdown", (event) => startDrag(event, item, hint));
    layer.append(marker);
  }
  const editor = $("hint-editor");
  editor.hidden = state.selectedHint === null;
  if (state.selectedHint) $("hint-colour").value = state.selectedHint.color;
}

// Pixel of the original photo under a pointer event.
function photoPixel(event, item) {
  const box = $("after").getBoundingClientRect();
  const fx = (event.clientX - box.left) / box.width;
  const fy = (event.clientY - box.top) / box.height;
  return {
    x: Math.max(0, Math.min(item.width - 1, Math.floor(fx * item.width))),
    y: Math.max(0, Math.min(item.height - 1, Math.floor(fy * item.height))),
  };
}

function addHint(event) {
  const item = state.current;
  if (!item || !item.width || event.button !== 0) return;
  if (servedSelected() && !state.served.accepts_hints) {
    say(`model ${state.served.name} takes no colour hints; choose a guided model (colorcli serve --model lite0-guided)`, true);
    return;
  }
  const hint = { ...photoPixel(event, item), color: state.colour };
  item.hints.push(hint);
  state.selectedHint = hint;
  drawHints(item);
  scheduleRender(item);
}

function startDrag(event, item, hint) {
  event.stopPropagation();
  event.preventDefault();
  state.selectedHint = hint;
  drawHints(item);
  const target = $("hints").children[item.hints.indexOf(hint)];
  target.setPointerCapture(event.pointerId);
  target.classList.add("dragging");
  let moved = false;
  const move = (next) => {
    const pixel = photoPixel(next, item);
    if (pixel.x === hint.x && pixel.y === hint.y) return;
    hint.x = pixel.x;
    hint.y = pixel.y;
    moved = true;
    target.style.left = `${((hint.x + 0.5) / item.width) * 100}%`;
    target.style.top = `${((hint.y + 0.5) / item.height) * 100}%`;
  };
  const end = () => {
    target.removeEventListener("pointermove", move);
    target.removeEventListener("pointerup", end);
    target.removeEventListener("pointercancel", end);
    target.classList.remove("dragging");
    if (moved) scheduleRender(item);
  };
  target.addEventListener("pointermove", move);
  target.addEventListener("pointerup", end);
  target.addEventListener("pointercancel", end);
}

function deleteSelectedHint() {
  const item = state.current;
  if (!item || !state.selectedHint) return;
  item.hints = item.hints.filter((hint) => hint !== state.selectedHint);
  state.selectedHint = null;
  drawHints(item);
  scheduleRender(item);
}

function setSplit(value) {
  $("before").style.clipPath = `inset(0 ${100 - value}% 0 0)`;
  $("divider").style.left = `${value}%`;
}

// ---------------------------------------------------------------- downloads

function filenameOf(response, fallback) {
  const header = response.headers.get("Content-Disposition") || "";
  const utf8 = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (utf8) return decodeURIComponent(utf8[1]);
  const plain = /filename="([^"]+)"/i.exec(header);
  return plain ? plain[1] : fallback;
}

// The full-resolution result of one photo: the original file, hints in its pixels.
async function fullResult(item) {
  const response = await post("/api/colorize", settingsForm(item.file, item.name, scaledHints(item, 1)));
  return { name: filenameOf(response, `${item.name}_color`), blob: await response.blob() };
}

function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

async function downloadCurrent() {
  const item = state.current;
  if (!item) return;
  $("download").disabled = true;
  say(`Colourizing ${item.name} at full size…`);
  try {
    const result = await fullResult(item);
    save(result.blob, result.name);
    say(`Saved ${result.name}`);
  } catch (error) {
    say(`${item.name}: ${error.message}`, true);
  } finally {
    updateButtons();
  }
}

async function downloadAll() {
  const items = state.items.filter((item) => item.status === "done");
  $("download-all").disabled = true;
  const files = [];
  const names = new Set();
  try {
    for (const [index, item] of items.entries()) {
      showProgress("Full size", index, items.length);
      const result = await fullResult(item);
      let name = result.name;
      for (let n = 2; names.has(name); n++) name = result.name.replace(/(\.[^.]*)?$/, `-${n}$1`);
      names.add(name);
      files.push({ name, bytes: new Uint8Array(await result.blob.arrayBuffer()) });
    }
    save(zipStored(files), "colorcli-results.zip");
    say(`Saved ${files.length} photos in colorcli-results.zip`);
  } catch (error) {
    say(error.message, true);
  } finally {
    hideProgress();
    updateButtons();
  }
}

// ---------------------------------------------------------------- zip (stored)

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// The fields a local header (at 4) and a central directory entry (at 6) have in common:
// version needed, flags, method (stored), time, date, CRC, both sizes and the name length.
function setSharedZipFields(view, at, { time, date, crc, size, nameLength }) {
  view.setUint16(at, 20, true);
  view.setUint16(at + 2, 0x0800, true); // UTF-8 names
  view.setUint16(at + 4, 0, true);
  view.setUint16(at + 6, time, true);
  view.setUint16(at + 8, date, true);
  view.setUint32(at + 10, crc, true);
  view.setUint32(at + 14, size, true);
  view.setUint32(at + 18, size, true);
  view.setUint16(at + 22, nameLength, true);
}

// A zip of already-compressed images: stored, not deflated (JPEG and PNG do not shrink).
function zipStored(files) {
  const now = new Date();
  const time = (now.getHours() << 11) | (now.getMinutes() << 5) | (now.getSeconds() >> 1);
  const date = ((now.getFullYear() - 1980) << 9) | ((now.getMonth() + 1) << 5) | now.getDate();
  const encoder = new TextEncoder();
  const parts = [];
  const central = [];
  let offset = 0;
  for (const file of files) {
    const name = encoder.encode(file.name);
    const crc = crc32(file.bytes);
    const shared = { time, date, crc, size: file.bytes.length, nameLength: name.length };
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    setSharedZipFields(local, 4, shared);
    local.setUint16(28, 0, true);
    parts.push(local, name, file.bytes);
    const entry = new DataView(new ArrayBuffer(46));
    entry.setUint32(0, 0x02014b50, true);
    entry.setUint16(4, 20, true);
    setSharedZipFields(entry, 6, shared);
    entry.setUint32(42, offset, true);
    central.push(entry, name);
    offset += 30 + name.length + file.bytes.length;
  }
  const size = central.reduce((sum, part) => sum + part.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, files.length, true);
  end.setUint16(10, files.length, true);
  end.setUint32(12, size, true);
  end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end], { type: "application/zip" });
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("pick").addEventListener("click", () => $("files").click());
  $("files").addEventListener("change", (event) => {
    addFiles([...event.target.files]);
    event.target.value = "";
  });
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", (event) => {
    if (event.relatedTarget === null) document.body.classList.remove("dragging");
  });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    document.body.classList.remove("dragging");
    addFiles([...event.dataTransfer.files]);
  });
  $("frame").addEventListener("pointerdown", addHint);
  $("split").addEventListener("input", (event) => setSplit(Number(event.target.value)));
  $("hint-colour").addEventListener("input", (event) => {
    state.colour = event.target.value;
    if (state.selectedHint && state.current) {
      state.selectedHint.color = event.target.value;
      drawHints(state.current);
      scheduleRender(state.current);
    }
  });
  $("hint-delete").addEventListener("click", deleteSelectedHint);
  document.addEventListener("keydown", (event) => {
    if ((event.key === "Delete" || event.key === "Backspace") && event.target === document.body) {
      deleteSelectedHint();
    }
  });
  $("saturation").addEventListener("input", (event) => {
    $("saturation-value").textContent = Number(event.target.value).toFixed(2);
    settingsChanged();
  });
  $("model").addEventListener("change", () => {
    updateModelAbilities();
    settingsChanged();
  });
  $("confidence").addEventListener("change", () => {
    if (!state.current) return;
    if ($("confidence").checked) scheduleRender(state.current);
    else showItem(state.current);
  });
  $("reference-pick").addEventListener("click", () => $("reference-input").click());
  $("reference-input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (!file) return;
    setReference(file);
  });
  $("reference-clear").addEventListener("click", () => setReference(null));
  $("download").addEventListener("click", downloadCurrent);
  $("download-all").addEventListener("click", downloadAll);
  setSplit(Number($("split").value));
}

function setReference(file) {
  if (state.referenceUrl) URL.revokeObjectURL(state.referenceUrl);
  state.reference = file;
  state.referenceUrl = file ? URL.createObjectURL(file) : null;
  $("reference-thumb").hidden = !file;
  $("reference-clear").hidden = !file;
  if (file) $("reference-thumb").src = state.referenceUrl;
  settingsChanged();
}

wire();
loadModels().catch((error) => say(String(error), true));
