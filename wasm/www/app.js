// The demo page: choose or drop a GGUF or safetensors file; its header is parsed by
// weightmap-core in WebAssembly and shown (metadata, tensor table, totals by type); clicking a
// tensor of any type the core decodes (quantized ones included) reads only that tensor's bytes,
// a slice at a time, and shows its statistics and histogram.
import init from "./pkg/weightmap_wasm.js";
import { ModelReader } from "./reader.js";

const HEAD = 8; // array elements shown, as `weightmap inspect` shows them
const BINS = 64;
const $ = (id) => document.getElementById(id);
const group = new Intl.NumberFormat("en-US");

let current = null; // {reader, header, tensors}
let generation = 0; // bumped by each file opened; late results of an older one are dropped
let sizeOrder = 0; // 0: file order, -1: largest first, 1: smallest first

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children);
  return node;
}

/** Bytes as text: 6,525,120 B (6.2 MiB). */
export function humanBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n), u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u += 1; }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

const exact = (n) => group.format(n); // BigInt or number, digits grouped

/** One array element: strings quoted, numbers and BigInts as their decimal digits. */
function item(v) {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return `[${v.length} items]`;
  return String(v);
}

/** A metadata value as shown: scalars as themselves, arrays as "len × TYPE: head …". */
function valueText(type, value) {
  if (type !== "ARRAY") return String(value);
  const more = Number(value.len) > value.head.length ? " …" : "";
  return `${value.len} × ${value.type}: ${value.head.map(item).join(", ")}${more}`;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function setStatus(text) {
  $("status").textContent = text;
}

function readStatus() {
  const { reader } = current;
  const share = reader.file.size ? ((100 * reader.bytesRead) / reader.file.size).toFixed(2) : "100";
  return `${reader.file.name}: read ${humanBytes(reader.bytesRead)} of ${humanBytes(reader.file.size)} (${share}%)`;
}

async function openFile(file) {
  const mine = ++generation;
  $("error").hidden = true;
  $("model").hidden = true;
  $("stats").hidden = true;
  // The old header is freed once no read of it is pending (see showTensor).
  if (current && !current.busy) current.header.free();
  else if (current) current.stale = true;
  current = null;
  const reader = new ModelReader(file);
  setStatus(`Reading the header of ${file.name}…`);
  try {
    const started = performance.now();
    const header = await reader.readHeader();
    if (mine !== generation) {
      header.free(); // another file was chosen meanwhile
      return;
    }
    const parsed = performance.now() - started;
    current = { reader, header, tensors: header.tensors(), busy: 0, stale: false };
    render(header, file);
    setStatus(`${readStatus()}; header read and parsed in ${parsed.toFixed(1)} ms`);
    $("model").hidden = false;
  } catch (e) {
    if (mine !== generation) return;
    setStatus(`${file.name}: read ${humanBytes(reader.bytesRead)}`);
    showError(`${file.name} cannot be read: ${e.message ?? e}`);
  }
}

function render(header, file) {
  const gguf = header.format === "gguf";
  const fields = [
    ["file", `${file.name} (${exact(file.size)} bytes)`],
    ["format", gguf ? `GGUF v${header.version}` : "safetensors"],
    ...(gguf
      ? [["architecture", header.architecture ?? "(none)"], ["alignment", header.alignment]]
      : [["JSON header", `${exact(Number(header.dataOffset) - 8)} bytes`]]),
    ["data offset", exact(header.dataOffset)],
    ["tensor data", `${exact(Number(header.requiredLength) - Number(header.dataOffset))} bytes`],
  ];
  if (header.requiredLength > file.size) {
    fields.push(["warning", `the tensors need ${exact(header.requiredLength)} bytes; the file is shorter`]);
  } else if (!gguf && header.requiredLength < file.size) {
    fields.push(["warning", `${exact(file.size - Number(header.requiredLength))} bytes after the last tensor`]);
  }
  $("summary").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));

  const entries = header.metadataEntries(HEAD);
  $("metadata-count").textContent = `(${entries.length})`;
  $("metadata").tBodies[0].replaceChildren(
    ...entries.map((e) =>
      el("tr", { "data-key": e.key },
        el("td", { class: "key" }, e.key),
        el("td", { class: "type" }, e.type === "ARRAY" ? `ARRAY of ${e.value.type}` : e.type),
        el("td", { class: "value" }, el("div", {}, valueText(e.type, e.value))),
      ),
    ),
  );

  renderTotals();
  $("filter").value = "";
  sizeOrder = 0;
  renderTensors();
}

function renderTotals() {
  const totals = new Map();
  let all = 0;
  for (const t of current.tensors) {
    const entry = totals.get(t.type) ?? { count: 0, bytes: 0 };
    entry.count += 1;
    entry.bytes += Number(t.size);
    all += Number(t.size);
    totals.set(t.type, entry);
  }
  const rows = [...totals].sort((a, b) => b[1].bytes - a[1].bytes);
  $("totals").tBodies[0].replaceChildren(
    ...rows.map(([type, { count, bytes }]) =>
      el("tr", { "data-type": type },
        el("td", {}, type),
        el("td", { class: "num" }, exact(count)),
        el("td", { class: "num" }, exact(bytes)),
        el("td", { class: "num" }, all ? `${((100 * bytes) / all).toFixed(1)}%` : "–"),
      ),
    ),
    el("tr", { class: "total" },
      el("td", {}, "all"),
      el("td", { class: "num" }, exact(current.tensors.length)),
      el("td", { class: "num" }, exact(all)),
      el("td", { class: "num" }, all ? "100%" : "–"),
    ),
  );
}

function renderTensors() {
  const filter = $("filter").value.trim().toLowerCase();
  let shown = current.tensors.filter((t) => t.name.toLowerCase().includes(filter));
  if (sizeOrder) shown = shown.slice().sort((a, b) => sizeOrder * (Number(a.size) - Number(b.size)));
  $("tensor-count").textContent =
    shown.length === current.tensors.length ? `(${shown.length})` : `(${shown.length} of ${current.tensors.length})`;
  $("sort-size").textContent = ["size (bytes) ▲", "size (bytes)", "size (bytes) ▼"][sizeOrder + 1];
  $("tensors").tBodies[0].replaceChildren(
    ...shown.map((t) => {
      // Every row: a type without a decoder says so when clicked.
      const row = el("tr", { "data-name": t.name, tabIndex: 0, title: "read this tensor and show its values" },
        el("td", { class: "name" }, t.name),
        el("td", { class: "type" }, t.type),
        el("td", { class: "shape" }, t.shape.join(" × ")),
        el("td", { class: "num offset" }, exact(t.offset)),
        el("td", { class: "num size" }, exact(t.size)),
      );
      row.addEventListener("click", () => showTensor(t.name, row));
      row.addEventListener("keydown", (e) => e.key === "Enter" && showTensor(t.name, row));
      return row;
    }),
  );
}

async function showTensor(name, row) {
  const model = current;
  const { reader, header } = model;
  document.querySelectorAll("#tensors tr.selected").forEach((r) => r.classList.remove("selected"));
  row.classList.add("selected");
  $("error").hidden = true;
  setStatus(`Reading ${name}…`);
  model.busy += 1;
  model.clicked = (model.clicked ?? 0) + 1;
  const click = model.clicked;
  // Another file, or another tensor, was chosen while this one was read: its reads stop.
  const superseded = () => model !== current || click !== model.clicked;
  try {
    const s = await reader.readTensorStats(header, name, BINS, {
      stop: superseded,
      onProgress: (p) => setStatus(`Reading ${name}… ${Math.floor(100 * p)}%`),
    });
    if (!s || superseded()) return;
    const fmt = (v) => (Number.isFinite(v) ? v.toPrecision(7) : String(v));
    $("stats-name").textContent = name;
    const fields = [
      ["values", exact(s.count), s.count],
      ["min", fmt(s.min), s.min],
      ["max", fmt(s.max), s.max],
      ["mean", fmt(s.mean), s.mean],
      ["std", fmt(s.std), s.std],
      ["NaN", exact(s.nan), s.nan],
      ["±inf", exact(s.infinite), s.infinite],
    ];
    // The text is rounded; data-value keeps the exact number (for tests and copying).
    $("stats-values").replaceChildren(
      ...fields.flatMap(([k, text, v]) => [el("dt", {}, k), el("dd", { "data-stat": k, "data-value": String(v) }, text)]),
    );
    drawHistogram(s);
    $("stats").hidden = false;
    setStatus(readStatus());
  } catch (e) {
    if (superseded()) return;
    setStatus(readStatus());
    $("stats").hidden = true; // not another tensor's values under this one's error
    const text = String(e.message ?? e);
    showError(text.includes(name) ? text : `${name}: ${text}`);
  } finally {
    model.busy -= 1;
    if (model.stale && model.busy === 0) model.header.free();
  }
}

function drawHistogram(s) {
  const canvas = $("histogram");
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const bins = s.histogram;
  const top = Math.max(1, ...bins);
  const w = width / Math.max(1, bins.length);
  ctx.fillStyle = "#0969da";
  bins.forEach((count, i) => {
    // Square root scale, so a few bins do not flatten the rest; a non-empty bin stays visible.
    const h = count ? Math.max(1, Math.sqrt(count / top) * (height - 4)) : 0;
    ctx.fillRect(i * w + 0.5, height - h, Math.max(1, w - 1), h);
  });
  $("histogram-range").textContent = bins.length
    ? `${bins.length} bin${bins.length === 1 ? "" : "s"} from ${s.min.toPrecision(4)} to ${s.max.toPrecision(4)} (height: square root of the count)`
    : "no finite values";
}

function wire() {
  $("file-input").addEventListener("change", (e) => e.target.files[0] && openFile(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) openFile(file);
  });
  $("filter").addEventListener("input", () => current && renderTensors());
  $("sort-size").addEventListener("click", () => {
    if (!current) return;
    sizeOrder = sizeOrder === 0 ? -1 : sizeOrder === -1 ? 1 : 0;
    renderTensors();
  });
}

try {
  await init();
  wire();
  setStatus("Ready: choose a GGUF or safetensors file. Nothing is uploaded; only its header is read.");
  document.body.dataset.ready = "true";
} catch (e) {
  showError(`The WebAssembly parser did not load: ${e.message ?? e}. Build it with wasm/build.sh and serve this folder (wasm/serve.sh).`);
}
