/**
 * The web page's files, read once at start-up into memory from fixed locations. No request path
 * is ever used to build a file path: a request names one of these routes or gets a 404. The icon
 * is written here: a browser asks for one on every page, and a missing one is a 404 in its console.
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

/** A stack of cards (the registry's agents), in the page's accent colour. */
const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect x="3" y="9" width="22" height="18" rx="3" fill="#8ab4f8"/>
<rect x="7" y="5" width="22" height="18" rx="3" fill="#1a5fb4" stroke="#fff" stroke-width="1.5"/>
<path d="M11 11h14M11 15h10M11 19h12" stroke="#fff" stroke-width="2" stroke-linecap="round"/>
</svg>
`;

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
  assets.set("/favicon.svg", { type: "image/svg+xml", body: Buffer.from(FAVICON) });
  return assets;
}
