// The demo page end to end in real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core). For a generated GGUF file of over 1 GiB (sparse tensor data, header by the
// official writer), the real Gemma 3 270M model, and a safetensors model written by the
// official safetensors writer (its 32 MiB embedding never read):
//   - the page shows the metadata and tensor table `weightmap inspect --json` prints,
//   - fewer than 16 MiB were read from the file (every Blob read is counted in the page),
//   - sorting by size and filtering by name work,
//   - clicking tensors of any type (Gemma's Q8_0 embedding, Q5_0, Q4_K, Q6_K; F32, F16, BF16,
//     F64) shows statistics matching numpy's over the official reader's values (quantized ones
//     through gguf.quants.dequantize): count, min, max, NaN and infinities exactly, mean and
//     std within 1e-6 relative; the tensor's bytes are read twice (two passes) and nothing
//     else; a histogram is drawn;
// then malformed files, and a tensor of a type without a decoder, give an error on the page.
// Screenshots go to target/e2e/.
//
// Usage (test.sh runs it): node wasm/js/e2e.mjs
// Environment: WEIGHTMAP_PYTHON (the venv with gguf and the Gemma packages; default .venv),
// CHROMIUM (default /usr/bin/chromium).
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serve } from "./serve.mjs";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const OUT = resolve(ROOT, "target/e2e");
const PYTHON = process.env.WEIGHTMAP_PYTHON ?? resolve(ROOT, ".venv/bin/python");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const MAX_READ = 16 << 20;

let failures = 0;
function check(ok, what, detail = "") {
  console.log(`${ok ? "ok" : "FAIL"} - ${what}${!ok && detail ? `\n    ${detail}` : ""}`);
  if (!ok) failures += 1;
}

function run(cmd, args) {
  return execFileSync(cmd, args, { cwd: ROOT, encoding: "utf8", maxBuffer: 1 << 30 });
}

// --- what the page must show, from independent sources --------------------------------------

/** The page's text for a metadata value, from `inspect --json`'s value. */
function expectedValue(type, value) {
  const scalar = (v) => (typeof v === "string" ? v : String(v));
  if (type !== "ARRAY") return scalar(value);
  const item = (v) => (typeof v === "string" ? JSON.stringify(v) : typeof v === "object" ? `[${v.len} items]` : String(v));
  const more = value.len > value.head.length ? " …" : "";
  return `${value.len} × ${value.type}: ${value.head.map(item).join(", ")}${more}`;
}

function inspect(file) {
  // Parse with 64-bit integers kept exact: wrap long integers in strings before JSON.parse.
  const text = run(resolve(ROOT, "target/debug/weightmap"), ["inspect", "--json", file]);
  return JSON.parse(text.replace(/(?<=[:\[,]\s*)(-?\d{16,})(?=\s*[,\]}])/g, '"$1"'));
}

const digits = (s) => s.replace(/,/g, "");

// --- the browser side ------------------------------------------------------------------------

/** Installed before the page's scripts: counts every byte read from a Blob or File. */
function countReads() {
  window.__bytesRead = 0;
  const count = (proto, method, size) => {
    const original = proto[method];
    if (!original) return;
    proto[method] = function (...args) {
      window.__bytesRead += size(this, args);
      return original.apply(this, args);
    };
  };
  for (const m of ["arrayBuffer", "text", "stream", "bytes"]) count(Blob.prototype, m, (b) => b.size);
  for (const m of ["readAsArrayBuffer", "readAsText", "readAsDataURL", "readAsBinaryString"]) {
    count(FileReader.prototype, m, (_, [b]) => b.size);
  }
}

async function pageState(page) {
  return page.evaluate(() => {
    const rows = (sel) => [...document.querySelectorAll(sel)];
    return {
      bytesRead: window.__bytesRead,
      metadata: rows("#metadata tbody tr").map((r) => ({
        key: r.dataset.key,
        type: r.querySelector(".type").textContent,
        value: r.querySelector(".value").textContent,
      })),
      tensors: rows("#tensors tbody tr").map((r) => ({
        name: r.querySelector(".name").textContent,
        type: r.querySelector(".type").textContent,
        shape: r.querySelector(".shape").textContent,
        offset: r.querySelector(".offset").textContent,
        size: r.querySelector(".size").textContent,
      })),
      totals: rows("#totals tbody tr[data-type]").map((r) => [r.dataset.type, r.cells[1].textContent, r.cells[2].textContent]),
      error: document.getElementById("error").hidden ? null : document.getElementById("error").textContent,
    };
  });
}

async function openPage(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.addInitScript(countReads);
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
  return { page, errors };
}

function close(a, b, tolerance) {
  return Math.abs(a - b) <= tolerance;
}

async function checkModel(browser, url, file, label, clicks) {
  console.log(`# ${label}: ${file}`);
  const want = inspect(file);
  const reference = JSON.parse(run(PYTHON, [resolve(ROOT, "tests/py/tensor_stats.py"), file, ...clicks]));
  const { page, errors } = await openPage(browser, url);
  await page.setInputFiles("#file-input", file);
  await page.waitForSelector("#model:not([hidden])", { timeout: 60_000 });
  const shown = await pageState(page);
  await page.screenshot({ path: resolve(OUT, `${label}-header.png`) });

  check(shown.bytesRead > 0 && shown.bytesRead < MAX_READ, `${label}: header read with ${shown.bytesRead} bytes (< 16 MiB)`);
  check(shown.bytesRead >= want.data_offset, `${label}: the whole header was read (${want.data_offset} bytes)`);

  const metaWant = want.metadata.map((e) => ({
    key: e.key,
    type: e.type === "ARRAY" ? `ARRAY of ${e.value.type}` : e.type,
    value: expectedValue(e.type, e.value),
  }));
  const metaBad = metaWant.findIndex((e, i) => JSON.stringify(e) !== JSON.stringify(shown.metadata[i]));
  check(
    shown.metadata.length === metaWant.length && metaBad === -1,
    `${label}: ${metaWant.length} metadata entries as inspect --json has them`,
    metaBad >= 0 ? `entry ${metaBad}: want ${JSON.stringify(metaWant[metaBad])}, page ${JSON.stringify(shown.metadata[metaBad])}` : "",
  );

  const tensorsWant = want.tensors.map((t) => ({
    name: t.name,
    type: t.type,
    shape: t.shape.join(" × "),
    offset: String(t.offset),
    size: String(t.size),
  }));
  const tensorsShown = shown.tensors.map((t) => ({ ...t, offset: digits(t.offset), size: digits(t.size) }));
  const tBad = tensorsWant.findIndex((t, i) => JSON.stringify(t) !== JSON.stringify(tensorsShown[i]));
  check(
    tensorsShown.length === tensorsWant.length && tBad === -1,
    `${label}: ${tensorsWant.length} tensors in file order as inspect --json has them`,
    tBad >= 0 ? `tensor ${tBad}: want ${JSON.stringify(tensorsWant[tBad])}, page ${JSON.stringify(tensorsShown[tBad])}` : "",
  );

  const byType = new Map();
  for (const t of want.tensors) {
    const e = byType.get(t.type) ?? [0, 0];
    byType.set(t.type, [e[0] + 1, e[1] + Number(t.size)]);
  }
  const totalsOk =
    shown.totals.length === byType.size &&
    shown.totals.every(([type, n, bytes]) => {
      const e = byType.get(type);
      return e && Number(digits(n)) === e[0] && Number(digits(bytes)) === e[1];
    });
  check(totalsOk, `${label}: totals by type`, JSON.stringify(shown.totals));

  await page.click("#sort-size");
  const largest = [...want.tensors].sort((a, b) => Number(b.size) - Number(a.size))[0];
  const firstAfterSort = await page.textContent("#tensors tbody tr:first-child .name");
  const sizes = (await pageState(page)).tensors.map((t) => Number(digits(t.size)));
  check(
    sizes.every((s, i) => i === 0 || sizes[i - 1] >= s) && Number(digits(String(largest.size))) === sizes[0],
    `${label}: sorted by size, largest first (${firstAfterSort})`,
  );
  await page.click("#sort-size"); // smallest first
  await page.click("#sort-size"); // file order again
  await page.fill("#filter", "norm");
  const filtered = (await pageState(page)).tensors.map((t) => t.name);
  const normWant = want.tensors.filter((t) => t.name.toLowerCase().includes("norm")).map((t) => t.name);
  check(JSON.stringify(filtered) === JSON.stringify(normWant), `${label}: filter "norm" shows ${normWant.length} tensors`);
  await page.fill("#filter", "");

  for (const name of clicks) {
    const before = await page.evaluate(() => window.__bytesRead);
    const started = Date.now();
    await page.click(`#tensors tbody tr[data-name="${name}"]`);
    await page.waitForFunction((n) => document.getElementById("stats-name").textContent === n && !document.getElementById("stats").hidden, name, { timeout: 120_000 });
    const ms = Date.now() - started;
    // Exact numbers from data-value (the text shows 7 digits).
    const stats = await page.evaluate(() =>
      Object.fromEntries([...document.querySelectorAll("#stats-values dd")].map((d) => [d.dataset.stat, Number(d.dataset.value)])),
    );
    const after = await page.evaluate(() => window.__bytesRead);
    const tensor = want.tensors.find((t) => t.name === name);
    const size = Number(tensor.size);
    const r = reference[name];
    // F64 values are rounded to f32 on the page (numpy keeps them): within half an f32 ulp.
    const extreme = (got, ref) => (tensor.type === "F64" ? close(got, ref, 2 ** -24 * Math.abs(ref)) : got === ref);
    const ok =
      stats.values === r.count &&
      extreme(stats.min, r.min) &&
      extreme(stats.max, r.max) &&
      close(stats.mean, r.mean, 1e-6 * Math.abs(r.mean)) &&
      close(stats.std, r.std, 1e-6 * r.std) &&
      stats.NaN === r.nan &&
      stats["±inf"] === r.infinite;
    check(
      ok,
      `${label}: ${name} (${tensor.type}, ${r.count} values, ${ms} ms) statistics match numpy: min ${stats.min}, max ${stats.max}, mean ${stats.mean}, std ${stats.std}`,
      `page ${JSON.stringify(stats)}, numpy ${JSON.stringify(r)}`,
    );
    const passes = r.finite > 0 ? 2 : 1; // the second pass (deviations, histogram) needs finite values
    check(after - before === passes * size, `${label}: ${name} read only its ${size} bytes, ${passes} times`, `read ${after - before}`);
    const inked = await page.evaluate(() => {
      const c = document.getElementById("histogram");
      const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < px.length; i += 4) n += px[i] > 0 ? 1 : 0;
      return n;
    });
    check(inked > 100, `${label}: ${name} histogram drawn (${inked} pixels)`);
  }
  const total = await page.evaluate(() => window.__bytesRead);
  const clicked = clicks.reduce((sum, n) => sum + 2 * Number(want.tensors.find((t) => t.name === n).size), 0);
  check(total - clicked < MAX_READ, `${label}: ${total - clicked} bytes read besides the ${clicked} of the clicked tensors (< 16 MiB)`);
  const shot = resolve(OUT, `${label}.png`);
  await page.screenshot({ path: shot, fullPage: false });
  console.log(`# screenshot: ${shot}`);
  check(errors.length === 0, `${label}: no uncaught page errors`, errors.join("; "));
  await page.close();
}

/** A GGUF v3 file of one tensor `w` of 32 elements of ggml type `typeId` (`typeBytes` bytes). */
function oneTensorGguf(typeId, typeBytes) {
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const head = Buffer.concat([Buffer.from("GGUF"), u32(3), u64(1), u64(0), u64(1), Buffer.from("w"), u32(1), u64(32), u32(typeId), u64(0)]);
  const pad = Buffer.alloc((32 - (head.length % 32)) % 32);
  return Buffer.concat([head, pad, Buffer.alloc(typeBytes)]);
}

/** Clicking a tensor of a type without a decoder shows the core's error naming the type. */
async function checkNoDecoder(browser, url) {
  // Q8_1 (id 9; blocks of 32 in 40 bytes, as gguf-py sizes them): ggml's activation type,
  // which gguf.quants does not decode either. Pick another type should it gain a decoder.
  const file = resolve(OUT, "q8_1.gguf");
  writeFileSync(file, oneTensorGguf(9, 40));
  const { page, errors } = await openPage(browser, url);
  await page.setInputFiles("#file-input", file);
  await page.waitForSelector("#model:not([hidden])", { timeout: 30_000 });
  await page.click('#tensors tbody tr[data-name="w"]');
  await page.waitForSelector("#error:not([hidden])", { timeout: 30_000 });
  const { error } = await pageState(page);
  const statsHidden = await page.evaluate(() => document.getElementById("stats").hidden);
  check(/^tensor w: no f32 decoder for Q8_1 tensors$/.test(error) && statsHidden, `a Q8_1 tensor without a decoder: "${error}"`);
  check(errors.length === 0, "no decoder: no uncaught page errors", errors.join("; "));
  await page.close();
}

async function checkRefused(browser, url, name, bytes, expect) {
  const file = resolve(OUT, name);
  writeFileSync(file, bytes);
  const { page, errors } = await openPage(browser, url);
  await page.setInputFiles("#file-input", file);
  await page.waitForSelector("#error:not([hidden])", { timeout: 30_000 });
  const { error } = await pageState(page);
  check(expect.test(error), `refused ${name}: "${error}"`);
  check(errors.length === 0, `refused ${name}: no uncaught page errors`, errors.join("; "));
  await page.close();
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  run(resolve(ROOT, "wasm/build.sh"), []); // quick when up to date; never test a stale build
  run("cargo", ["build", "-p", "weightmap-cli", "--quiet"]);
  const sparse = resolve(OUT, "sparse-1gib.gguf");
  run(PYTHON, [resolve(ROOT, "tests/py/browser_fixtures.py"), sparse]);
  const gemma = resolve(ROOT, "target/fixtures/gemma-3-270m-q4_k_m.gguf");
  mkdirSync(resolve(ROOT, "target/fixtures"), { recursive: true });
  run(PYTHON, [resolve(ROOT, "tests/py/fetch_gemma.py"), gemma]);
  const st = resolve(OUT, "model.safetensors");
  run(PYTHON, [resolve(ROOT, "tests/py/browser_safetensors.py"), st]);

  const { server, url } = await serve();
  for (const path of ["/..%2f..%2fCargo.toml", "/%2e%2e/%2e%2e/Cargo.toml", "/../../Cargo.toml", "/%E0%A4%A"]) {
    const status = await new Promise((ok, fail) =>
      request(new URL(url), { path, method: "GET" }, (res) => ok(res.resume().statusCode)).on("error", fail).end(),
    );
    check(status === 404, `the page server refuses ${path} (${status})`);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    await checkModel(browser, url, sparse, "sparse-1gib", ["blk.3.ffn_up.weight", "blk.0.ffn_norm.weight", "rope_freqs.weight", "output.weight"]);
    // The first tensor of each quantized type; the first Q8_0 is the 178 MB embedding, read a
    // slice at a time.
    const gemmaTensors = inspect(gemma).tensors;
    const quantized = ["Q8_0", "Q5_0", "Q4_K", "Q6_K"].map((type) => gemmaTensors.find((t) => t.type === type).name);
    const largest = gemmaTensors.reduce((a, b) => (Number(b.size) > Number(a.size) ? b : a));
    check(quantized.includes(largest.name), `gemma-3-270m: the largest tensor (${largest.name}, ${largest.size} bytes) is clicked`);
    await checkModel(browser, url, gemma, "gemma-3-270m", ["output_norm.weight", "blk.0.attn_norm.weight", ...quantized]);
    await checkModel(browser, url, st, "safetensors", ["model.norm.weight", "model.layers.0.mlp.down_proj.weight", "model.layers.0.self_attn.q_proj.weight", "lm_head.weight"]);
    await checkRefused(browser, url, "not-gguf.bin", Buffer.from("this is not a model file at all"), /not a GGUF or safetensors file/);
    const stHeader = Buffer.from(execFileSync("head", ["-c", "300", st]));
    await checkRefused(browser, url, "truncated.safetensors", stHeader, /truncated/);
    const badJson = Buffer.concat([Buffer.from([9, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"w": [1]}'.slice(0, 9))]);
    await checkRefused(browser, url, "bad-header.safetensors", badJson, /JSON header/);
    const header = Buffer.from(execFileSync("head", ["-c", "1000", resolve(ROOT, "samples/tiny-llama.gguf")]));
    await checkRefused(browser, url, "truncated.gguf", header, /truncated/);
    await checkNoDecoder(browser, url);
  } finally {
    await browser.close();
    server.close();
  }
  console.log(failures ? `\n${failures} check(s) failed` : "\nall browser checks passed");
  process.exit(failures ? 1 : 0);
}

await main();
