// Test helpers: the recorded requests in this directory, a fixed state
// snapshot for the lifecycle hooks, and CAPI's way of applying our patches.
import fs from 'node:fs';
import path from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import type { GeneratePatchesRequest, GeneratePatchesResponse, ValidateTopologyRequest } from '../api.js';
import { emptyAsk, type Tenancy } from '../checks.js';
import type { ClassKinds } from '../machinesets.js';
import type { BaseConfig } from '../variables.js';

const { applyPatch } = fastJsonPatch;

export function fixture<T>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(import.meta.dirname, `${name}.json`), 'utf8')) as T;
}

export const NO_RESERVED: BaseConfig = { reservedCIDRs: [], upgradeConcurrency: 3 };

/** The patch operations of a response item, decoded from base64. */
export function opsOf(res: GeneratePatchesResponse, uidSuffix: string): unknown[] {
  const item = (res.items ?? []).find((i) => i.uid.endsWith(uidSuffix));
  return item ? (JSON.parse(Buffer.from(item.patch, 'base64').toString('utf8')) as unknown[]) : [];
}

/**
 * What CAPI does with a GeneratePatches response (engine.go
 * applyPatchToRequest): each item's JSON patch applied to its template, and
 * only the template's spec kept. Returns the ValidateTopology request CAPI
 * builds from the result (convertToValidationRequest).
 */
export function applyResponse(req: GeneratePatchesRequest, res: GeneratePatchesResponse): ValidateTopologyRequest {
  const items = req.items.map((item) => {
    const p = (res.items ?? []).find((i) => i.uid === item.uid);
    if (!p) return item;
    const ops = JSON.parse(Buffer.from(p.patch, 'base64').toString('utf8')) as fastJsonPatch.Operation[];
    const patched = applyPatch(structuredClone(item.object), ops, true, false).newDocument;
    return { ...item, object: { ...item.object, spec: patched.spec } };
  });
  return {
    apiVersion: req.apiVersion,
    kind: 'ValidateTopologyRequest',
    ...(req.settings ? { settings: req.settings } : {}),
    variables: req.variables,
    items: items.map(({ holderReference, object, variables }) => ({ holderReference, object, ...(variables ? { variables } : {}) })),
  };
}

export const KVM_KINDS: ClassKinds = { general: 'KvmMachineTemplate', gpu: 'KvmMachineTemplate' };

export function tenancy(over: Partial<Tenancy> = {}): Tenancy {
  return { namespace: 'team-a', tenant: 'acme', hard: {}, scope: 'Tenant', used: emptyAsk(), ...over };
}
