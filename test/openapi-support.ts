/** The committed OpenAPI document (docs/openapi.json) and validators made from its schemas. */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";

type Json = Record<string, unknown>;

export const OPENAPI_FILE = join(import.meta.dirname, "..", "docs", "openapi.json");

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json> };
}

export const readOpenApi = (): OpenApiDocument =>
  JSON.parse(readFileSync(OPENAPI_FILE, "utf8")) as OpenApiDocument;

/**
 * A validator for the document's component schemas, by name (`Agent`, `ErrorBody` …), with their
 * `#/components/schemas/…` references resolved within the document.
 */
export function documentValidator(document: Pick<OpenApiDocument, "components">) {
  const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true });
  // The document is the root the references point into: `components` holds schemas, not a rule.
  ajv.addVocabulary(["components"]);
  const id = "https://agentmux-registry.invalid/openapi.json";
  ajv.addSchema({ $id: id, components: document.components }, id);
  return (name: string) => ajv.getSchema(`${id}#/components/schemas/${name}`);
}
