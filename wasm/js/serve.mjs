// A static file server for the demo page (no dependencies): `node js/serve.mjs [port]` serves
// wasm/www on 127.0.0.1 (default port 8000). The browser test imports `serve` to do the same.
import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".ts": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
};

export const WWW = resolve(fileURLToPath(new URL("../www", import.meta.url)));

/** Serves `root` on 127.0.0.1:`port` (0: any free port); resolves to `{server, url}`. */
export function serve(root = WWW, port = 0) {
  const notFound = () => Object.assign(new Error("not found"), { code: "ENOENT" });
  const inside = (dir, file) => file === dir || file.startsWith(dir + sep);
  const server = createServer(async (req, res) => {
    try {
      const realRoot = await realpath(root);
      const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
      let file = normalize(join(root, path));
      if (!inside(root, file)) throw notFound();
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      // Symbolic links may not lead out of the root either.
      file = await realpath(file);
      if (!inside(realRoot, file)) throw notFound();
      const info = await stat(file);
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "content-length": info.size,
        "cache-control": "no-store",
      });
      createReadStream(file)
        .on("error", () => res.destroy())
        .pipe(res);
    } catch (e) {
      if (res.headersSent) return res.destroy();
      res.writeHead(e.code === "ENOENT" || e.code === "ENOTDIR" || e instanceof URIError ? 404 : 500).end();
    }
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () =>
      ok({ server, url: `http://127.0.0.1:${server.address().port}/` }),
    );
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { url } = await serve(WWW, Number(process.argv[2] ?? process.env.PORT ?? 8000));
  console.log(`serving ${WWW} at ${url} (build it first: wasm/build.sh)`);
}
