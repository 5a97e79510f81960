// The userdata a machine boots with: the bootstrap provider's cloud-config
// plus the file that tells the guest its providerID. Shared by the KubeVirt
// and Metal3 providers, so that the Kairos bootstrap reads the providerID the
// same way on VMs and bare metal.
import { parseDocument, stringify } from 'yaml';
import { isNotFound, type Client } from '../kit/client.js';
import { Secrets } from '../kit/types.js';
import type { Secret } from './tenant.js';

/** Where the providerID reaches the guest; the Kairos bootstrap passes it to kubelet --provider-id. */
export const PROVIDER_ID_FILE = '/etc/ironplane/provider-id';

/** Why bootstrap data cannot be used as it is. */
export class UnsupportedBootstrapData extends Error {}

/**
 * The userdata the guest boots with: the bootstrap provider's cloud-config
 * plus one file holding the providerID, which the bootstrap's kubelet
 * configuration reads (see PROVIDER_ID_FILE). Comments and key order of the
 * original are kept.
 */
export function renderUserData(bootstrap: { value: string; format?: string }, providerID: string): string {
  const format = bootstrap.format ?? 'cloud-config';
  if (format !== 'cloud-config') throw new UnsupportedBootstrapData(`bootstrap data format "${format}" is not supported: Ironplane machines boot cloud-config (Kairos)`);
  if (!bootstrap.value.trimStart().startsWith('#cloud-config')) throw new UnsupportedBootstrapData('bootstrap data is not a cloud-config: it must start with "#cloud-config"');
  const doc = parseDocument(bootstrap.value);
  if (doc.errors.length) throw new UnsupportedBootstrapData(`bootstrap cloud-config is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  const root = doc.toJS() as unknown;
  if (root !== null && (typeof root !== 'object' || Array.isArray(root))) throw new UnsupportedBootstrapData('bootstrap cloud-config must be a YAML mapping');
  const files = (root as Record<string, unknown> | null)?.['write_files'];
  if (files !== undefined && !Array.isArray(files)) throw new UnsupportedBootstrapData('bootstrap cloud-config write_files must be a list');
  const existing = (files as { path?: string }[] | undefined)?.findIndex((f) => f?.path === PROVIDER_ID_FILE) ?? -1;
  const entry = { path: PROVIDER_ID_FILE, content: providerID, permissions: '0644', owner: 'root:root' };
  if (existing >= 0) doc.setIn(['write_files', existing], doc.createNode(entry));
  else if (files) doc.addIn(['write_files'], doc.createNode(entry));
  else if (root === null) return `#cloud-config\n${stringify({ write_files: [entry] })}`;
  else doc.set('write_files', doc.createNode([entry]));
  const out = doc.toString();
  return out.startsWith('#cloud-config') ? out : `#cloud-config\n${out}`;
}

/** The bootstrap data Secret turned into userdata, or why it cannot be (yet). */
export type BootstrapUserData = { ok: true; userdata: string } | { ok: false; missing: boolean; message: string };

/**
 * Reads the bootstrap data Secret named by the Machine (by name: Secrets are
 * never listed or cached) and renders the userdata with the providerID file.
 */
export async function bootstrapUserData(client: Client, namespace: string, dataSecretName: string, providerID: string): Promise<BootstrapUserData> {
  let bootstrap: Secret;
  try {
    bootstrap = await client.get<Secret>(Secrets, dataSecretName, namespace);
  } catch (e) {
    if (!isNotFound(e)) throw e;
    return { ok: false, missing: true, message: `bootstrap data Secret ${dataSecretName} not found` };
  }
  const value = bootstrap.data?.['value'];
  if (!value) return { ok: false, missing: false, message: `bootstrap data Secret ${dataSecretName} has no "value" key` };
  const format = bootstrap.data?.['format'] ? Buffer.from(bootstrap.data['format'], 'base64').toString('utf8') : undefined;
  try {
    return { ok: true, userdata: renderUserData({ value: Buffer.from(value, 'base64').toString('utf8'), ...(format ? { format } : {}) }, providerID) };
  } catch (e) {
    if (!(e instanceof UnsupportedBootstrapData)) throw e;
    return { ok: false, missing: false, message: `Secret ${dataSecretName}: ${e.message}` };
  }
}
