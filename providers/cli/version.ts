import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The CAPI contract our CRDs and metadata.yaml declare. */
export const CONTRACT = 'v1beta2';

/** Reads our package.json, found by walking up from this module (works from src and dist). */
export function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = path.join(dir, 'package.json');
    if (fs.existsSync(p)) {
      const pkg = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ironplane' && pkg.version) return pkg.version;
    }
    dir = path.dirname(dir);
  }
  return '0.0.0-unknown';
}
