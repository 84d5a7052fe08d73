// Parse time in Node: weightmap-wasm against @huggingface/gguf 0.4.6, same process, same files,
// each measured 10 times (after a warm-up), interleaved; the median is reported.
//
// Both read the file themselves, header only: @huggingface/gguf with `allowLocalFile: true`
// (its ranged reads), weightmap-wasm by reading the prefix the parser asks for (as the demo page
// does with Blob.slice, through HeaderParser). Three weightmap-wasm figures:
//   - header:    parseHeader + tensors(): the index and the tensor table, values left in wasm;
//   - like-for-like: header, plus metadata() with every value and whole arrays converted to JS
//                (262144 vocabulary strings for Gemma), which is what @huggingface/gguf returns;
//   - in-memory: parseHeader on a prefix already in memory (no file reads).
//
// Usage: wasm/build.sh && node wasm/js/bench.mjs [FILE...] (default: the Gemma model, the
// tiny sample, and the 1 GiB sparse file when the browser test has made it).
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gguf } from "@huggingface/gguf";
import { HeaderParser, initSync, parseHeader } from "../www/pkg/weightmap_wasm.js";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const RUNS = 10;

initSync({ module: readFileSync(resolve(ROOT, "wasm/www/pkg/weightmap_wasm_bg.wasm")) });

/** Reads the header chunk by chunk as the parser asks (as the demo page does). */
function readHeader(path) {
  const fd = openSync(path, "r");
  try {
    const size = statSync(path).size;
    const parser = new HeaderParser();
    for (;;) {
      const from = parser.length;
      const to = parser.nextReadEnd(size);
      const chunk = Buffer.allocUnsafe(to - from);
      readSync(fd, chunk, 0, chunk.length, from);
      if (parser.push(chunk)) return parser.finish();
    }
  } finally {
    closeSync(fd);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function time(fn) {
  const t0 = performance.now();
  const out = await fn();
  return [performance.now() - t0, out];
}

async function bench(path) {
  const bytes = statSync(path).size;
  const prefixLen = (() => {
    const f = readHeader(path);
    const n = Number(f.dataOffset);
    f.free();
    return n;
  })();
  const prefix = Buffer.alloc(prefixLen);
  const fd = openSync(path, "r");
  readSync(fd, prefix, 0, prefixLen, 0);
  closeSync(fd);

  const variants = {
    "@huggingface/gguf": async () => {
      const { metadata, tensorInfos } = await gguf(path, { allowLocalFile: true });
      return [Object.keys(metadata).length, tensorInfos.length];
    },
    "weightmap-wasm header": () => {
      const f = readHeader(path);
      const out = [f.metadataCount, f.tensors().length];
      f.free();
      return out;
    },
    "weightmap-wasm like-for-like": () => {
      const f = readHeader(path);
      const out = [Object.keys(f.metadata()).length, f.tensors().length];
      f.free();
      return out;
    },
    "weightmap-wasm in-memory": () => {
      const f = parseHeader(prefix).file;
      const out = [f.metadataCount, f.tensorCount];
      f.free();
      return out;
    },
  };
  const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const counts = {};
  for (let run = -1; run < RUNS; run++) {
    for (const [name, fn] of Object.entries(variants)) {
      const [ms, out] = await time(fn);
      counts[name] = out;
      if (run >= 0) times[name].push(ms);
    }
  }
  const hf = median(times["@huggingface/gguf"]);
  console.log(`\n${path}: ${bytes} bytes, header ${prefixLen} bytes`);
  for (const [name, ts] of Object.entries(times)) {
    const m = median(ts);
    const ratio = name.startsWith("weightmap") ? `  ${(hf / m).toFixed(1)}x faster` : "";
    console.log(`  ${name.padEnd(30)} median ${m.toFixed(3).padStart(9)} ms  (entries, tensors: ${counts[name].join(", ")})${ratio}`);
  }
}

const defaults = [
  "target/fixtures/gemma-3-270m-q4_k_m.gguf",
  "samples/tiny-llama.gguf",
  "target/e2e/sparse-1gib.gguf",
].map((p) => resolve(ROOT, p));
const files = process.argv.length > 2 ? process.argv.slice(2) : defaults.filter((p) => existsSync(p));
console.log(`node ${process.version}, ${RUNS} runs each after a warm-up, medians`);
for (const f of files) await bench(resolve(f));
