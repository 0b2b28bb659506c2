// Generates src/lib/api-types.ts from schemas/app/desktop-api.schema.json: the UI's types
// come from the same schema the app's answers are tested against.
// `node scripts/gen-types.mjs --check` fails if the committed file is out of date.
import { readFileSync, writeFileSync } from "node:fs";
import { compile } from "json-schema-to-typescript";

const schemaPath = new URL("../../schemas/app/desktop-api.schema.json", import.meta.url);
const outPath = new URL("../src/lib/api-types.ts", import.meta.url);
const schema = JSON.parse(readFileSync(schemaPath, "utf8"));
// Root type: a union of every definition, so each is emitted once under its own name.
schema.anyOf = Object.keys(schema.$defs).map((k) => ({ $ref: `#/$defs/${k}` }));
const ts = await compile(schema, "DesktopApi", {
  bannerComment:
    "// Generated from schemas/app/desktop-api.schema.json by `npm run types`. Do not edit.",
  additionalProperties: false,
  strictIndexSignatures: true,
  style: { semi: true, singleQuote: false },
});
if (process.argv.includes("--check")) {
  const have = readFileSync(outPath, "utf8");
  if (have !== ts) {
    console.error("src/lib/api-types.ts is out of date: run `npm run types` in ui/.");
    process.exit(1);
  }
} else {
  writeFileSync(outPath, ts);
}
