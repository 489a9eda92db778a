/**
 * The web page's files, read once at start-up into memory from fixed locations. No request path
 * is ever used to build a file path: a request names one of these routes or gets a 404.
 */

import { readFileSync } from "node:fs";

export interface Asset {
  type: string;
  body: Buffer;
}

const SOURCES: Record<string, { type: string; candidates: string[] }> = {
  "/": { type: "text/html; charset=utf-8", candidates: ["../../web/index.html"] },
  "/style.css": { type: "text/css; charset=utf-8", candidates: ["../../web/style.css"] },
  // Bundled by `npm run build` (esbuild: web/app.ts with src/api.ts and src/present.ts); the second
  // path serves it when running from src/.
  "/app.js": {
    type: "text/javascript; charset=utf-8",
    candidates: ["../web/app.js", "../../dist/web/app.js"],
  },
};

export function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [route, { type, candidates }] of Object.entries(SOURCES)) {
    for (const candidate of candidates) {
      try {
        assets.set(route, { type, body: readFileSync(new URL(candidate, import.meta.url)) });
        break;
      } catch {
        // Try the next location; a page without its script says so in the browser.
      }
    }
  }
  return assets;
}
