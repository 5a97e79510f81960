// npm run gen [-- --verify] [-- --only capi,fixtures] [-- --out-root DIR]
//
// Generates TypeScript types and ajv validators from CRD YAML (see
// generator.ts and sources.ts). --verify writes nothing: it exits 1 and names
// every file whose committed content differs from what would be generated.
// --out-root writes the output under another directory (for comparisons).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { diffResults, generateSources, writeResults } from './generator.js';
import { sources } from './sources.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      verify: { type: 'boolean', default: false },
      only: { type: 'string' },
      'out-root': { type: 'string' },
    },
    strict: true,
  });
  let selected = sources;
  if (values.only !== undefined) {
    const names = values.only.split(',');
    const unknown = names.filter((n) => !sources.some((s) => s.name === n));
    if (unknown.length > 0) throw new Error(`unknown source(s) ${unknown.join(', ')}`);
    selected = sources.filter((s) => names.includes(s.name));
  }
  const results = await generateSources(selected, { root, log: (l) => console.log(l) });
  if (values.verify) {
    const drift = await diffResults(results, root);
    if (drift.length === 0) {
      console.log('gen: generated files are up to date');
      return 0;
    }
    console.error(`gen: ${drift.length} generated file(s) differ from their sources; run \`make gen\` and commit:`);
    for (const d of drift) console.error(`  ${d.state.padEnd(7)} ${d.file}`);
    return 1;
  }
  await writeResults(results, path.resolve(values['out-root'] ?? root));
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`gen: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  },
);
