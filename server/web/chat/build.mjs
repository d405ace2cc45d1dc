// Bundle the chat page into server/static/chat/, the folder the server serves and git keeps.
//
// The bundle is committed so the page works on a machine with no npm and no internet; run
// `npm ci && npm run build` here after changing anything under this folder, and commit the result.
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "static", "chat");

await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.js")],
  outfile: join(out, "app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  // Every browser that ships fetch streams and ES modules; also what esbuild can lower to.
  target: ["es2020"],
  minify: true,
  legalComments: "none",
  // @ag-ui/client reads process.env.NODE_ENV (guarded by `typeof process`) to pick its checks.
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "info",
});
for (const name of ["index.html", "styles.css"]) {
  await copyFile(join(here, name), join(out, name));
}
console.log(`built ${out}`);
