// Generates src/schema.d.ts from the committed OpenAPI document (functions/openapi/openapi.json)
// with openapi-typescript; with --check, generates into a scratch file and fails when the
// committed src/schema.d.ts is not exactly that (run `npm run generate` and commit the result).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const documentPath = join(here, "..", "..", "functions", "openapi", "openapi.json");
const committedPath = join(here, "src", "schema.d.ts");
const cli = join(here, "node_modules", "openapi-typescript", "bin", "cli.js");

function generate(output) {
  execFileSync(
    process.execPath,
    // --empty-objects-unknown: a body schema with no listed properties takes any field, not
    // none. --default-non-nullable=false: a body field with a default may be omitted (the server
    // applies the default); records list every field as required anyway.
    [cli, documentPath, "--output", output, "--empty-objects-unknown", "--default-non-nullable=false"],
    { cwd: here, stdio: ["ignore", "ignore", "inherit"] },
  );
}

if (!process.argv.includes("--check")) {
  generate(committedPath);
  console.log(`${committedPath} generated from ${documentPath}`);
  process.exit(0);
}

const scratch = mkdtempSync(join(tmpdir(), "hub-client-"));
try {
  const fresh = join(scratch, "schema.d.ts");
  generate(fresh);
  const expected = readFileSync(fresh, "utf8").split("\n");
  const committed = readFileSync(committedPath, "utf8").split("\n");
  const line = expected.findIndex((text, i) => text !== committed[i]);
  if (line !== -1 || expected.length !== committed.length) {
    const at = line === -1 ? Math.min(expected.length, committed.length) : line;
    console.error(
      `clients/typescript/src/schema.d.ts is not what functions/openapi/openapi.json generates (line ${at + 1}):\n` +
        `  generated: ${expected[at] ?? "<end of file>"}\n  committed: ${committed[at] ?? "<end of file>"}\n` +
        "Run `npm run generate` in clients/typescript and commit src/schema.d.ts.",
    );
    process.exit(1);
  }
  console.log("clients/typescript/src/schema.d.ts matches functions/openapi/openapi.json");
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
