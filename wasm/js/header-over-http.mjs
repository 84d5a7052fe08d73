// Reads a GGUF header over HTTP with @huggingface/gguf (the peer of `weightmap inspect URL`
// in tests/bench/remote.sh) and prints what it parsed as one JSON line; the server's log
// counts the requests and bytes.
//
//   node wasm/js/header-over-http.mjs http://127.0.0.1:PORT/files/model.gguf
import { gguf } from "@huggingface/gguf";

const url = process.argv[2];
if (!url) {
  console.error("usage: node header-over-http.mjs URL");
  process.exit(2);
}
const started = performance.now();
const { metadata, tensorInfos } = await gguf(url);
console.log(
  JSON.stringify({
    peer: "@huggingface/gguf",
    tensors: tensorInfos.length,
    metadata: Object.keys(metadata).length,
    ms: performance.now() - started,
  }),
);
