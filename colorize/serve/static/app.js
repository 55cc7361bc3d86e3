// colorize serve: the page's behaviour. Talks only to this server's /api/*.
//
// The sketch is either the uploaded file's own bytes (so the server, not the browser,
// judges a bad upload) or, once drawn on, the canvas as a PNG. Every change re-colours
// after a short pause: with tags (flat and soft, from one forward pass), without tags,
// and the tag-swap row. The layered files are made on request, from the same sketch and tags.
// A palette file is read by the server and sent back as a hex list, which every colouring
// then carries, so the flat regions near its colours take them.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("sketch"), ctx = canvas.getContext("2d");
const tagsInput = $("tags"), options = $("tag-options"), groupSelect = $("group");
let info = { vocab: [], groups: [] };
let uploaded = null;      // the uploaded File, while the canvas shows it unchanged
let drawn = false;        // strokes on the canvas since the last upload
let groupChosen = false;  // the user picked a swap group: stop following the tags
let generation = 0, timer = null;
let palette = "";         // the chosen palette as a hex list (as /api/palette returns it), sent with each colouring
const urls = new Map();   // element id -> object URL, revoked when replaced

function clearCanvas(width = 512, height = 512) {
  canvas.width = width; canvas.height = height;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, width, height);
}

function setImage(id, blob) {
  if (urls.has(id)) URL.revokeObjectURL(urls.get(id));
  const url = URL.createObjectURL(blob);
  urls.set(id, url);
  return url;
}

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
  document.body.dataset.state = message ? "error" : document.body.dataset.state;
}

// -- drawing ---------------------------------------------------------------------------------

let last = null;
function point(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
}
canvas.addEventListener("pointerdown", (event) => {
  canvas.setPointerCapture(event.pointerId);
  last = point(event);
  ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#000";
  ctx.lineWidth = $("pen").value * canvas.width / 512;
  ctx.beginPath(); ctx.moveTo(...last); ctx.lineTo(...last); ctx.stroke();
});
canvas.addEventListener("pointermove", (event) => {
  if (!last) return;
  const next = point(event);
  ctx.beginPath(); ctx.moveTo(...last); ctx.lineTo(...next); ctx.stroke();
  last = next;
});
const endStroke = () => { if (last) { last = null; drawn = true; schedule(); } };
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

$("clear").addEventListener("click", () => { uploaded = null; drawn = false; $("upload").value = ""; clearCanvas(); showError(""); });

// -- uploading -------------------------------------------------------------------------------

function useFile(file) {
  if (!file) return;
  uploaded = file; drawn = false;
  showError("");
  const image = new Image();
  const url = URL.createObjectURL(file);
  image.onload = () => {
    const scale = Math.min(1, 1024 / Math.max(image.naturalWidth, image.naturalHeight));
    clearCanvas(Math.max(1, Math.round(image.naturalWidth * scale)), Math.max(1, Math.round(image.naturalHeight * scale)));
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    URL.revokeObjectURL(url);
  };
  image.onerror = () => { clearCanvas(); URL.revokeObjectURL(url); };  // the server will say what is wrong
  image.src = url;
  schedule(0);
}
$("upload").addEventListener("change", () => useFile($("upload").files[0]));
canvas.addEventListener("dragover", (event) => { event.preventDefault(); canvas.classList.add("dragover"); });
canvas.addEventListener("dragleave", () => canvas.classList.remove("dragover"));
canvas.addEventListener("drop", (event) => {
  event.preventDefault(); canvas.classList.remove("dragover");
  useFile(event.dataTransfer.files[0]);
});

function sketchBlob() {
  if (uploaded && !drawn) return Promise.resolve(uploaded);
  if (!drawn) return Promise.resolve(null);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

// -- tags: completion from the model's vocabulary ------------------------------------------------

function currentTags() {
  return tagsInput.value.split(",").map((t) => t.trim().toLowerCase().replace(/[\s_]+/g, " ")).filter(Boolean);
}

// A <datalist> completes the whole field, so each option is the text typed so far with
// its last, unfinished tag completed.
function refreshOptions() {
  const text = tagsInput.value;
  const fragment = text.slice(text.lastIndexOf(",") + 1).trimStart();
  const head = text.slice(0, text.length - fragment.length);
  const typed = fragment.toLowerCase(), used = new Set(currentTags());
  const starts = [], inside = [];
  if (typed) {
    for (const tag of info.vocab) {
      if (used.has(tag) && tag !== typed) continue;
      if (tag.startsWith(typed)) starts.push(tag);
      else if (tag.includes(" " + typed)) inside.push(tag);
    }
  }
  options.replaceChildren(...starts.concat(inside).slice(0, 40).map((tag) => {
    const option = document.createElement("option");
    option.value = head + tag;
    return option;
  }));
}
tagsInput.addEventListener("input", () => { refreshOptions(); followTags(); schedule(); });

// -- palette: read by the server (/api/palette), shown as swatches, sent with every colouring ---

const paletteHint = $("palette-hint");  // shown while there is no palette
function showPalette(colours, note = "") {
  const drop = $("palette-drop");
  $("palette-note").textContent = note ? `Note: ${note}.` : "";
  if (!colours.length) { drop.replaceChildren(paletteHint); return; }
  drop.replaceChildren(...colours.map((colour) => {
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.backgroundColor = colour.hex;
    swatch.title = colour.name ? `${colour.name} ${colour.hex}` : colour.hex;
    swatch.dataset.hex = colour.hex;
    return swatch;
  }));
}
async function usePalette(file) {
  if (!file) return;
  try {
    const response = await post("/api/palette", { name: file.name }, file);
    const read = await response.json();
    palette = read.hex;
    showPalette(read.colours, read.note);
    $("palette-clear").disabled = false;
    showError("");
    schedule(0);
  } catch (error) {
    showError(error.message);
  } finally {
    $("palette-file").value = "";
  }
}
$("palette-file").addEventListener("change", () => usePalette($("palette-file").files[0]));
$("palette-drop").addEventListener("dragover", (event) => { event.preventDefault(); $("palette-drop").classList.add("dragover"); });
$("palette-drop").addEventListener("dragleave", () => $("palette-drop").classList.remove("dragover"));
$("palette-drop").addEventListener("drop", (event) => {
  event.preventDefault(); $("palette-drop").classList.remove("dragover");
  usePalette(event.dataTransfer.files[0]);
});
$("palette-clear").addEventListener("click", () => {
  palette = ""; showPalette([]); $("palette-clear").disabled = true; schedule(0);
});

// -- swap groups -------------------------------------------------------------------------------

function fillGroups() {
  groupSelect.replaceChildren(...info.groups.map((group) => {
    const option = document.createElement("option");
    option.value = group.pattern;
    option.textContent = `${group.name} (${group.values.join(", ")})`;
    return option;
  }));
  $("swap-panel").hidden = info.groups.length === 0;
}
function followTags() {  // until the user picks one, show the group that one of the tags belongs to
  if (groupChosen) return;
  const tags = new Set(currentTags());
  const match = info.groups.find((group) => group.tags.some((tag) => tags.has(tag)));
  if (match) groupSelect.value = match.pattern;
}
groupSelect.addEventListener("change", () => { groupChosen = true; schedule(0); });

// -- colouring ---------------------------------------------------------------------------------

async function post(path, params, blob) {
  const response = await fetch(`${path}?${new URLSearchParams(params)}`, { method: "POST", body: blob });
  if (!response.ok) {
    let message = `The server answered ${response.status}.`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function schedule(delay = 350) {
  clearTimeout(timer);
  timer = setTimeout(update, delay);
}

async function update() {
  const mine = ++generation;
  const blob = await sketchBlob();
  if (!blob) return;
  const tags = currentTags().join(", ");
  document.body.dataset.state = "busy";
  $("status").textContent = "colouring…";
  try {
    const jobs = [post("/api/finishes", { tags, palette }, blob), post("/api/colorize", { tags: "", palette }, blob)];
    if (groupSelect.value) jobs.push(post("/api/swap", { tags, group: groupSelect.value, palette }, blob));
    const [withTags, withoutTags, swap] = await Promise.all(jobs);
    const both = await withTags.json(), plain = await withoutTags.blob();
    const swapped = swap ? await swap.json() : null;
    if (mine !== generation) return;  // a newer request has started; drop this one
    const flat = new Blob([Uint8Array.from(atob(both.flat), (c) => c.charCodeAt(0))], { type: "image/png" });
    const url = setImage("flat", flat);
    $("flat").src = url;
    $("soft").src = `data:image/png;base64,${both.soft}`;
    $("without-tags").src = setImage("without-tags", plain);
    $("with-tags-caption").textContent = tags || "none";
    $("note").textContent = both.note ? `(${both.note})` : "";
    $("download").href = url;
    $("download").setAttribute("aria-disabled", "false");
    for (const button of document.querySelectorAll("button.layers")) button.disabled = false;
    $("download-palette").href = setImage("download-palette", new Blob([both.palette], { type: "text/plain" }));
    $("download-palette").setAttribute("aria-disabled", "false");
    const unknown = both.unknown_tags.join(", ");
    $("unknown").textContent = unknown ? `Not in the model's vocabulary (embedded on the fly): ${unknown}` : "";
    if (swapped) renderSwap(swapped);
    showError("");
    $("status").textContent = "";
    document.body.dataset.state = "done";
    document.body.dataset.tags = tags;  // what the shown colouring was made with (tests wait on it)
  } catch (error) {
    if (mine !== generation) return;
    $("status").textContent = "";
    showError(error.message);
  }
}

// -- layered files: made on request for the sketch and tags shown ------------------------------

async function downloadLayers(event) {
  const button = event.currentTarget, format = button.dataset.format;
  const blob = await sketchBlob();
  if (!blob) return;
  button.disabled = true;
  $("status").textContent = `making the .${format}…`;
  try {
    const response = await post("/api/layers", { tags: currentTags().join(", "), format, palette }, blob);
    const link = document.createElement("a");
    link.href = setImage(`layers-${format}`, await response.blob());
    link.download = `colorized.${format}`;
    document.body.append(link);
    link.click();
    link.remove();
    showError("");
  } catch (error) {
    showError(error.message);
  } finally {
    button.disabled = false;
    $("status").textContent = "";
  }
}
for (const button of document.querySelectorAll("button.layers")) button.addEventListener("click", downloadLayers);

function renderSwap(swapped) {
  $("swap-row").replaceChildren(...swapped.images.map((item) => {
    const figure = document.createElement("figure");
    const image = document.createElement("img");
    image.src = `data:image/png;base64,${item.png}`;
    image.alt = image.title = item.tags.join(", ");
    const caption = document.createElement("figcaption");
    caption.textContent = item.value;
    figure.append(image, caption);
    return figure;
  }));
}

// -- start -------------------------------------------------------------------------------------

async function start() {
  clearCanvas();
  try {
    info = await (await fetch("/api/info")).json();
  } catch (error) {
    showError(`Could not reach the server: ${error.message}`);
    return;
  }
  $("model").textContent = `model ${info.model}${info.step != null ? `, step ${info.step}` : ""}, ` +
    `${info.size} px, ${info.vocab.length} tags`;
  $("limits").textContent = `Draw with the mouse, or upload or drop a sketch (PNG, JPEG, WebP; up to ` +
    `${Math.round(info.max_upload_bytes / 2 ** 20)} MB and ${Math.round(info.max_pixels / 1e6)} megapixels).`;
  fillGroups();
  followTags();
  document.body.dataset.state = "ready";
}
start();
