/**
 * Where the change feed used to live: the feed is now the live index's own changes
 * (`live-index.ts`). Kept for the edges' imports until they name `live-index.js`.
 */

export { type FeedOptions, reportToStderr } from "./live-index.js";
