// What the operating system on a Metal3 BareMetalHost sees, as pure
// functions: whether the host runs an image provisioned for a MetalMachine,
// the hostname the config drive's meta_data gives it, and the addresses
// hardware inspection found on its NICs.
import { parse } from 'yaml';
import type { BareMetalHost } from './kinds.js';

/** The group of the MetalMachine a host must be consumed by. */
export const METAL_MACHINE_GROUP = 'infrastructure.ironplane.dev';

/**
 * What runs on the host:
 * - `up`: the provisioned image boots, for the consumer named;
 * - `down`: provisioned, but powered off (spec.online false): a Node it
 *   registered stays, no longer ready;
 * - `gone`: no provisioned image (another state, image cleared, released or
 *   being deleted): a Node it registered goes away.
 */
export type HostOS =
  | { os: 'up'; consumer: { namespace: string; name: string; uid: string } }
  | { os: 'down'; consumer: { namespace: string; name: string; uid: string }; why: string }
  | { os: 'gone'; why: string };

export function hostOS(h: BareMetalHost): HostOS {
  if (h.metadata?.deletionTimestamp) return { os: 'gone', why: 'host is being deleted' };
  const state = h.status?.provisioning?.state || 'unregistered';
  if (state !== 'provisioned') return { os: 'gone', why: `host is ${state}, not provisioned` };
  if (!h.spec?.image?.url && !h.spec?.customDeploy?.method) return { os: 'gone', why: 'host has no image (spec.image cleared): it is about to deprovision' };
  const c = h.spec?.consumerRef;
  if (!c?.name) return { os: 'gone', why: 'host has no spec.consumerRef: no MetalMachine it was provisioned for' };
  const group = c.apiVersion?.split('/')[0];
  if (c.kind !== 'MetalMachine' || group !== METAL_MACHINE_GROUP) {
    return { os: 'gone', why: `host's consumerRef is ${c.kind ?? '(no kind)'} ${c.apiVersion ?? '(no apiVersion)'}, not an ${METAL_MACHINE_GROUP} MetalMachine` };
  }
  const namespace = c.namespace || h.metadata?.namespace || '';
  const consumer = { namespace, name: c.name, uid: c.uid ?? `${namespace}/${c.name}` };
  if (h.spec?.online !== true) return { os: 'down', consumer, why: 'host is powered off (spec.online is not true)' };
  return { os: 'up', consumer };
}

/** The hostname meta_data gives (cloud-init's local-hostname, Ironic's local_hostname), undefined if none, or why it is unreadable. */
export function metaDataHostname(text: string): { hostname: string | undefined } | { why: string } {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    return { why: `meta_data is neither JSON nor YAML: ${(e as Error).message.split('\n')[0]}` };
  }
  if (doc === null || doc === undefined) return { hostname: undefined };
  if (typeof doc !== 'object' || Array.isArray(doc)) return { why: 'meta_data is not a mapping' };
  const m = doc as Record<string, unknown>;
  const name = m['local-hostname'] ?? m['local_hostname'] ?? m['hostname'];
  if (name === undefined) return { hostname: undefined };
  if (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name)) return { why: `meta_data hostname ${JSON.stringify(name)} is not a valid Node name` };
  return { hostname: name };
}

/** The IP addresses inspection found on the host's NICs, each once, in NIC order. */
export function hostAddresses(h: BareMetalHost): string[] {
  return [...new Set((h.status?.hardware?.nics ?? []).map((n) => n.ip).filter((ip): ip is string => Boolean(ip)))];
}
