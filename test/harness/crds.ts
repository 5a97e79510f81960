// Installs CustomResourceDefinitions from YAML files or directories and waits
// until they can actually be used. Established=True is not enough:
// - discovery lists the resource a moment later, and clients such as
//   client-node's KubernetesObjectApi resolve resources through discovery;
// - the new resource's watch cache then initialises (tens of ms here), and
//   meanwhile LIST answers 429 "storage is (re)initializing": a controller
//   started right away would fail its first list.
// Not waited for: for 2 s after Established, the apiserver deliberately
// sleeps 2 s in every create of the new kind (customresource_handler.go, for
// HA peers to catch up), so the first create after install takes ~2 s.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeConfig } from '@kubernetes/client-node';
import { Client } from '../../providers/kit/client.js';
import { CustomResourceDefinitions, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { waitFor } from './http.js';

export const FIELD_MANAGER = 'ironplane-harness';

interface CRD {
  apiVersion: string;
  kind: 'CustomResourceDefinition';
  metadata: { name: string };
  spec: { group: string; scope: string; names: { plural: string; kind: string }; versions: { name: string; served: boolean }[] };
  status?: unknown;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}


function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCRD(v: unknown): v is CRD {
  if (!isRecord(v) || v.kind !== 'CustomResourceDefinition') return false;
  const spec = v.spec;
  return (
    isRecord(v.metadata) &&
    typeof v.metadata.name === 'string' &&
    isRecord(spec) &&
    typeof spec.group === 'string' &&
    isRecord(spec.names) &&
    typeof spec.names.plural === 'string' &&
    typeof spec.names.kind === 'string' &&
    typeof spec.scope === 'string' &&
    Array.isArray(spec.versions)
  );
}

function yamlFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => join(path, f));
}

/**
 * Reads every CRD under `paths`. Other kinds (a kustomization.yaml, say) are
 * skipped, but a path that yields no CRD at all is an error: it is almost
 * always a wrong path.
 */
export function loadCRDs(paths: string[]): CRD[] {
  const out: CRD[] = [];
  for (const path of paths) {
    let found = 0;
    for (const file of yamlFiles(path)) {
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
        const obj: unknown = doc.toJS();
        if (!isCRD(obj)) continue;
        if (obj.apiVersion !== 'apiextensions.k8s.io/v1') {
          throw new Error(`${file}: CRD ${obj.metadata.name} is ${obj.apiVersion}, only apiextensions.k8s.io/v1 is served`);
        }
        out.push(obj);
        found++;
      }
    }
    if (found === 0) throw new Error(`no CustomResourceDefinition found in ${path}`);
  }
  return out;
}

async function waitUsable(client: Client, crd: CRD, timeoutMs: number): Promise<void> {
  const name = crd.metadata.name;
  await waitFor(`CRD ${name} to be Established`, timeoutMs, async (note) => {
    const got = await client.tryGet<KubeObject & { status?: { conditions?: Condition[] } }>(CustomResourceDefinitions, name);
    if (!got) return note('not found');
    const conds = got.status?.conditions ?? [];
    if (conds.find((c) => c.type === 'Established')?.status === 'True') return true;
    // NamesAccepted=False never heals by itself: fail now with the reason.
    const names = conds.find((c) => c.type === 'NamesAccepted');
    if (names?.status === 'False') throw new Error(`CRD ${name}: names not accepted: ${names.message ?? names.reason}`);
    return note(JSON.stringify(conds));
  });
  for (const v of crd.spec.versions.filter((v) => v.served)) {
    const path = `/apis/${crd.spec.group}/${v.name}`;
    await waitFor(`${crd.spec.names.plural} in discovery at ${path}`, timeoutMs, async (note) => {
      const list = await client.request<{ resources?: { name: string }[] }>({ method: 'GET', path }).catch((e: Error) => note(e.message));
      return list?.resources?.some((r) => r.name === crd.spec.names.plural) ? true : note('not listed yet');
    });
    const rt: ResourceType = { group: crd.spec.group, version: v.name, kind: crd.spec.names.kind, plural: crd.spec.names.plural, namespaced: crd.spec.scope === 'Namespaced' };
    await waitFor(`LIST ${path}/${rt.plural} to succeed`, timeoutMs, async (note) =>
      client.list(rt, { limit: 1 }).then(
        () => true,
        (e: Error) => note(e.message),
      ),
    );
  }
}

/** Installs CRDs with server-side apply (force: re-installing a changed CRD just works) and waits until they are usable. */
export async function installCRDs(kubeConfig: KubeConfig, paths: string[], timeoutMs = 60_000): Promise<void> {
  const crds = loadCRDs(paths);
  const client = new Client(kubeConfig, { fieldManager: FIELD_MANAGER, timeoutMs: 30_000 });
  try {
    // Status is owned by the server; sending it would only be ignored.
    await Promise.all(crds.map(({ status: _status, ...crd }) => client.apply(CustomResourceDefinitions, crd as KubeObject, { force: true })));
    await Promise.all(crds.map((c) => waitUsable(client, c, timeoutMs)));
  } finally {
    client.close();
  }
}
