// Reads only what the parser needs of a File: the header through HeaderParser, chunk by chunk
// as it asks, then single tensors by their byte range. Every read goes through
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

  /** A tensor's values as f32 (F32, F16, BF16, F64), reading only its bytes. */
  async readTensorF32(header, name) {
    const { start, end } = header.tensorRange(name);
    if (end > this.file.size) {
      throw new Error(`tensor ${name}: bytes [${start}, ${end}) lie past the end of the file (${this.file.size} bytes)`);
    }
    return header.decodeF32(name, await this.readRange(start, end));
  }
}
