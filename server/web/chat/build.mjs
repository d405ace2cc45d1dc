// Bundle the chat page's script into server/static/chat/app.js, beside the page's
// index.html and styles.css, which are edited in place there (nothing to build).
//
// The bundle is committed so the page works on a machine with no npm and no internet; run
// `npm ci && npm run build` here after changing src/, and commit the result.
import { mkdir } from "node:fs/promises";
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
console.log(`built ${out}`);
