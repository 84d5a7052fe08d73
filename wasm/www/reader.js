// Reads only what the parser needs of a File: the header through parseHeader, growing the
// prefix as it asks, then single tensors by their byte range. Every read goes through
// `readRange`, which counts the bytes, so the page can say how little it read.
import { parseHeader } from "./pkg/weightmap_wasm.js";

const FIRST_READ = 1 << 20; // most headers without a vocabulary fit in 1 MiB

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

  /** Parses the header, reading from the start of the file only as far as the parser asks
   * (each read appends to the prefix, so no byte is read twice). Resolves to a GgufFile. */
  async readHeader() {
    let prefix = await this.readRange(0, Math.min(FIRST_READ, this.file.size));
    for (;;) {
      const result = parseHeader(prefix);
      if (result.file) return result.file;
      if (result.needed > this.file.size) {
        throw new Error(
          `truncated file: its header needs ${result.needed} bytes but the file has ${this.file.size}`,
        );
      }
      // Grow by half again at least, so a 6 MB vocabulary takes a few reads, not thousands.
      const want = Math.min(this.file.size, Math.max(result.needed, Math.ceil(prefix.length * 1.5)));
      const more = await this.readRange(prefix.length, want);
      const grown = new Uint8Array(want);
      grown.set(prefix);
      grown.set(more, prefix.length);
      prefix = grown;
    }
  }

  /** A tensor's values as f32 (F32, F16, BF16, F64), reading only its bytes. */
  async readTensorF32(header, name) {
    const { start, end } = header.tensorRange(name);
    if (end > this.file.size) {
      throw new Error(`tensor ${name}: bytes [${start}, ${end}) lie past the end of the file (${this.file.size} bytes)`);
    }
    return header.decodeF32(name, await this.readRange(start, end));
  }
}
