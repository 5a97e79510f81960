// Join credentials: kubeadm bootstrap tokens in the tenant cluster, and the
// pin of the tenant CA's public key.
//
// A token is a Secret `bootstrap-token-<id>` in the tenant's kube-system, in
// the format kubeadm writes (k8s.io/cluster-bootstrap): the kube-apiserver
// authenticates it as system:bootstrap:<id> in the groups it lists, and the
// bootstrap signer signs the kube-public/cluster-info ConfigMap with it so
// that a joining node can verify the control plane it found.
//
// One token per KairosConfig, never two: its id is derived from the
// KairosConfig's uid, so a manager killed between creating the token and
// writing the bootstrap data finds the same token again (by name) and reuses
// its secret half instead of minting another. The Secret carries the uid in
// a label; a token with the same id that is not ours (a 1 in 2e9 clash) is
// skipped for the next derived id.
import { createHash, randomInt, X509Certificate } from 'node:crypto';
import { isAlreadyExists, type Client } from '../kit/client.js';
import { Secrets } from '../kit/types.js';
import type { Secret } from '../capi/tenant.js';
import { TOKEN_OWNER_LABEL } from './names.js';

export const TOKEN_NAMESPACE = 'kube-system';
export const TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token';
/** The group kubeadm's RBAC (Kamaji creates it) lets post CSRs and read the kubeadm ConfigMaps. */
export const NODE_BOOTSTRAP_GROUP = 'system:bootstrappers:kubeadm:default-node-token';
export const TOKEN_ID_RE = /^[a-z0-9]{6}$/;
export const TOKEN_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

export const DEFAULT_TOKEN_TTL_MS = 15 * 60_000;
/**
 * A token is checked every TTL/3 and extended to a full TTL when less than
 * 2/3 of it is left, so a Machine that has not joined always holds a token
 * valid for at least TTL/3, and the token's expiry is rewritten at most once
 * per check.
 */
export const REFRESH_BELOW = 2 / 3;
export const CHECK_EVERY = 1 / 3;
/** Derived ids tried before giving up (each clash is a 1 in 36^6 chance). */
const MAX_ID_CANDIDATES = 8;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function tokenSecretName(id: string): string {
  return `bootstrap-token-${id}`;
}

/** The i-th token id for a KairosConfig uid: 6 characters of [a-z0-9], stable across restarts. */
export function tokenIDCandidate(uid: string, i: number): string {
  const digest = createHash('sha256').update(`${uid}/${i}`).digest();
  let id = '';
  for (let j = 0; j < 6; j++) id += ALPHABET[digest[j]! % ALPHABET.length];
  return id;
}

/** The secret half: 16 characters of [a-z0-9] from the CSPRNG. */
export function randomTokenSecret(pick: (n: number) => number = randomInt): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += ALPHABET[pick(ALPHABET.length)];
  return s;
}

/** RFC 3339 in UTC without fractions, as kubeadm writes expirations. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A Go-style duration of hours, minutes and seconds ("15m", "1h30m", "45s") in milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s);
  if (!s || !m) throw new Error(`invalid duration "${s}": use hours, minutes and seconds, e.g. 15m`);
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

export interface TokenOwner {
  namespace: string;
  name: string;
  uid: string;
}

/** The tenant Secret for a token, in kubeadm's format. */
export function bootstrapTokenSecret(id: string, secret: string, expiresMs: number, owner: TokenOwner): Secret {
  return {
    metadata: { name: tokenSecretName(id), namespace: TOKEN_NAMESPACE, labels: { [TOKEN_OWNER_LABEL]: owner.uid } },
    type: TOKEN_SECRET_TYPE,
    stringData: {
      description: `Ironplane KairosConfig ${owner.namespace}/${owner.name}: kubeadm join of one worker`,
      'token-id': id,
      'token-secret': secret,
      expiration: rfc3339(expiresMs),
      'usage-bootstrap-authentication': 'true',
      'usage-bootstrap-signing': 'true',
      'auth-extra-groups': NODE_BOOTSTRAP_GROUP,
    },
  };
}

export interface Token {
  id: string;
  secret: string;
  /** Milliseconds since the epoch; NaN when the Secret has no valid expiration. */
  expiresMs: number;
}

const field = (s: Secret, k: string): string | undefined => {
  const v = s.data?.[k];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
};

/** The token a tenant Secret holds, or undefined when it is not a usable bootstrap token. */
export function readToken(s: Secret): Token | undefined {
  const id = field(s, 'token-id');
  const secret = field(s, 'token-secret');
  if (s.type !== TOKEN_SECRET_TYPE || !id || !secret || !TOKEN_RE.test(`${id}.${secret}`)) return undefined;
  if (s.metadata?.name !== tokenSecretName(id)) return undefined;
  const exp = field(s, 'expiration');
  return { id, secret, expiresMs: exp ? Date.parse(exp) : NaN };
}

/**
 * kubeadm's CA pins: "sha256:" and the hex SHA-256 of each certificate's
 * DER SubjectPublicKeyInfo, for every certificate in the PEM bundle.
 */
export function caCertHashes(pem: string): string[] {
  return pemCertificates(pem).map((b) => {
    const spki = new X509Certificate(b).publicKey.export({ type: 'spki', format: 'der' });
    return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
  });
}

/** The CERTIFICATE blocks of a PEM bundle; anything else in it (a key) is left out. */
export function pemCertificates(pem: string): string[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('no PEM certificate found');
  return blocks;
}

export interface EnsuredToken {
  token: Token;
  /** What was done: a new token, an extended expiry, or nothing. */
  action: 'created' | 'refreshed' | 'unchanged';
}

export interface EnsureTokenOptions {
  owner: TokenOwner;
  ttlMs: number;
  now: number;
  /** The id recorded in status by an earlier reconcile, tried first. */
  knownID?: string;
  random?: (n: number) => number;
}

/**
 * Finds this KairosConfig's token in the tenant cluster, or creates it;
 * extends its expiry when less than REFRESH_BELOW of the TTL is left.
 */
export async function ensureBootstrapToken(tenant: Client, o: EnsureTokenOptions): Promise<EnsuredToken> {
  const ids = [...new Set([...(o.knownID && TOKEN_ID_RE.test(o.knownID) ? [o.knownID] : []), ...Array.from({ length: MAX_ID_CANDIDATES }, (_, i) => tokenIDCandidate(o.owner.uid, i))])];
  for (const id of ids) {
    for (let attempt = 0; attempt < 2; attempt++) {
      const existing = await tenant.tryGet<Secret>(Secrets, tokenSecretName(id), TOKEN_NAMESPACE);
      if (!existing) {
        const token = { id, secret: randomTokenSecret(o.random), expiresMs: o.now + o.ttlMs };
        try {
          await tenant.create(Secrets, bootstrapTokenSecret(id, token.secret, token.expiresMs, o.owner));
          return { token, action: 'created' };
        } catch (e) {
          // Someone created it between our get and create: look again.
          if (isAlreadyExists(e)) continue;
          throw e;
        }
      }
      if (existing.metadata?.labels?.[TOKEN_OWNER_LABEL] !== o.owner.uid) break; // not ours: next id
      const token = readToken(existing);
      if (!token) {
        // Ours but unusable (edited by hand): replace it with a fresh one.
        await tenant.delete(Secrets, tokenSecretName(id), TOKEN_NAMESPACE, existing.metadata?.uid ? { uid: existing.metadata.uid } : {});
        continue;
      }
      if (!(token.expiresMs - o.now >= o.ttlMs * REFRESH_BELOW)) {
        const expiresMs = o.now + o.ttlMs;
        await tenant.mergePatch(Secrets, tokenSecretName(id), TOKEN_NAMESPACE, { stringData: { expiration: rfc3339(expiresMs) } });
        return { token: { ...token, expiresMs }, action: 'refreshed' };
      }
      return { token, action: 'unchanged' };
    }
  }
  throw new Error(`no free bootstrap token id for KairosConfig ${o.owner.namespace}/${o.owner.name} among ${ids.length} candidates in the tenant cluster`);
}

/** Deletes this KairosConfig's token (only if it is ours). Returns false if it was already gone. */
export async function deleteBootstrapToken(tenant: Client, id: string, ownerUID: string): Promise<boolean> {
  const existing = await tenant.tryGet<Secret>(Secrets, tokenSecretName(id), TOKEN_NAMESPACE);
  if (!existing || existing.metadata?.labels?.[TOKEN_OWNER_LABEL] !== ownerUID) return false;
  return tenant.delete(Secrets, tokenSecretName(id), TOKEN_NAMESPACE, existing.metadata?.uid ? { uid: existing.metadata.uid } : {});
}
