// graphql-codegen over schema/schema.graphql and the README's operations, which
// tests/js/test_codegen.py extracts into CODEGEN_DOCUMENTS; the TypeScript lands in CODEGEN_OUT.
//
// Since typescript-operations 6 the operation types stand alone: it emits the enums and inputs
// the operations use, itself. Listing `typescript` beside it in one file, the pre-6 setup,
// declares every enum twice (`export enum ErrorCode` and `export type ErrorCode`), which tsc
// refuses. So, as codegen's v6 migration guide says: typescript-operations alone for the
// client's operations, and the `typescript` plugin's schema types in a file of their own.
import { fileURLToPath } from "node:url";

const documents = process.env.CODEGEN_DOCUMENTS;
const out = process.env.CODEGEN_OUT;
if (!documents || !out) {
  throw new Error("set CODEGEN_DOCUMENTS and CODEGEN_OUT");
}

// strictScalars: a new custom scalar fails generation until it is mapped here.
const scalars = { DateTime: "string" }; // ISO-8601 on the wire, e.g. 2026-12-02T09:30:00.000Z

export default {
  overwrite: true,
  errorsOnly: true,
  schema: fileURLToPath(new URL("../../schema/schema.graphql", import.meta.url)),
  documents: `${documents}/*.graphql`,
  generates: {
    [`${out}/operations.ts`]: {
      plugins: ["typescript-operations"],
      config: { scalars, strictScalars: true, enumType: "string-literal" },
    },
    [`${out}/schema-types.ts`]: {
      plugins: ["typescript"],
      config: { scalars, strictScalars: true, enumsAsTypes: true },
    },
  },
};
