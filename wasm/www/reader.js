// Reads only what the parser needs of a File: the header through HeaderParser, chunk by chunk
// as it asks, then single tensors by their byte range, a slice at a time. Every read goes through
// `readRange`, which counts the bytes, so the page can say how little it read.
import { HeaderParser } from "./pkg/weightmap_wasm.js";

export class ModelReader {
  constructor(file) {
    this.file = file;
    this.bytesRead = 0;
  }

  /** `bytes [start, end)` of the file. */
  async readRange(start, end) {
    const buffer = await this.file.slice(start, end).arrayBuffer();
    this.bytesRead += buffer.byteLength;
    return new Uint8Array(buffer);
  }

  /** Parses the header, reading from the start of the file only as far as the parser asks:
   * each chunk is appended and parsed once (a 6 MB vocabulary takes a few reads). Resolves
   * to a ModelFile (GGUF or safetensors) without tensor data. */
  async readHeader() {
    const parser = new HeaderParser();
    try {
      for (;;) {
        const from = parser.length;
        const to = parser.nextReadEnd(this.file.size); // throws for a truncated file
        if (parser.push(await this.readRange(from, to))) return parser.finish();
      }
    } catch (e) {
      parser.free();
      throw e;
    }
  }

  /** A tensor's statistics ({count, min, max, mean, std, nan, infinite, histogram, ...}), of
   * any type the parser decodes, quantized ones included: its bytes are read in slices of
   * whole blocks, each decoded in WebAssembly and dropped, so memory stays small whatever the
   * tensor's size. They are read twice: the deviations and the histogram need the mean and the
   * extremes first. `onProgress(fraction)` follows the reads; when `stop()` returns true the
   * reads are abandoned and the result is null. */
  async readTensorStats(header, name, bins, { onProgress, stop } = {}) {
    const { start, end } = header.tensorRange(name);
    if (end > this.file.size) {
      throw new Error(`tensor ${name}: bytes [${start}, ${end}) lie past the end of the file (${this.file.size} bytes)`);
    }
    const builder = header.tensorStatsBuilder(name, bins); // throws for a type without a decoder
    let consumed = false;
    try {
      for (let r; (r = builder.nextRead()); ) {
        const bytes = await this.readRange(Number(r.start), Number(r.end));
        if (stop?.()) return null;
        builder.push(bytes);
        onProgress?.(builder.progress);
      }
      consumed = true;
      return builder.finish();
    } finally {
      if (!consumed) builder.free();
    }
  }
}
