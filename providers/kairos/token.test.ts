import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { X509Certificate as PeculiarCertificate } from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import type { Secret } from '../capi/tenant.js';
import { ApiError, type Client } from '../kit/client.js';
import type { KubeObject, ResourceType } from '../kit/types.js';
import { createCA } from '../../test/harness/pki.js';
import { TOKEN_OWNER_LABEL } from './names.js';
import {
  bootstrapTokenSecret,
  caCertHashes,
  deleteBootstrapToken,
  ensureBootstrapToken,
  NODE_BOOTSTRAP_GROUP,
  parseDuration,
  pemCertificates,
  randomTokenSecret,
  readToken,
  tokenIDCandidate,
  tokenSecretName,
  TOKEN_RE,
} from './token.js';

/**
 * Just enough of a tenant API server for tokens: Secrets by namespace/name,
 * stringData folded into data, AlreadyExists on a second create, merge patch
 * of stringData, uid preconditions on delete. Every write is recorded.
 */
class FakeTenant {
  readonly store = new Map<string, Secret>();
  readonly writes: string[] = [];
  private uid = 0;

  asClient(): Client {
    return this as unknown as Client;
  }

  async tryGet<T extends KubeObject>(_rt: ResourceType, name: string, ns?: string): Promise<T | undefined> {
    const s = this.store.get(`${ns}/${name}`);
    return s ? (structuredClone(s) as T) : undefined;
  }

  async create<T extends KubeObject>(_rt: ResourceType, obj: T): Promise<T> {
    const s = obj as Secret;
    const key = `${s.metadata!.namespace}/${s.metadata!.name}`;
    this.writes.push(`create ${key}`);
    if (this.store.has(key)) throw new ApiError(409, 'AlreadyExists', `secrets "${s.metadata!.name}" already exists`);
    const data = Object.fromEntries(Object.entries(s.stringData ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    this.store.set(key, { metadata: { ...s.metadata, uid: `uid-${++this.uid}` }, type: s.type, data });
    return obj;
  }

  async mergePatch<T extends KubeObject>(_rt: ResourceType, name: string, ns: string, patch: { stringData?: Record<string, string> }): Promise<T> {
    const key = `${ns}/${name}`;
    this.writes.push(`patch ${key}`);
    const s = this.store.get(key)!;
    for (const [k, v] of Object.entries(patch.stringData ?? {})) s.data![k] = Buffer.from(v).toString('base64');
    return s as T;
  }

  async delete(_rt: ResourceType, name: string, ns?: string, opts: { uid?: string } = {}): Promise<boolean> {
    const key = `${ns}/${name}`;
    this.writes.push(`delete ${key}`);
    const s = this.store.get(key);
    if (!s) return false;
    if (opts.uid && s.metadata?.uid !== opts.uid) throw new ApiError(409, 'Conflict', 'uid precondition failed');
    this.store.delete(key);
    return true;
  }
}

const owner = { namespace: 'team-a', name: 'w-1', uid: '0b6c4d2e-1111-4000-8000-000000000001' };
const TTL = 15 * 60_000;
const T0 = Date.parse('2026-09-01T10:00:00Z');
const field = (s: Secret | undefined, k: string) => Buffer.from(s!.data![k]!, 'base64').toString('utf8');

describe('token format', () => {
  it('should derive stable 6-character ids from the uid, different per attempt and per uid', () => {
    const a = tokenIDCandidate(owner.uid, 0);
    expect(a).toMatch(/^[a-z0-9]{6}$/);
    expect(tokenIDCandidate(owner.uid, 0)).toBe(a);
    expect(tokenIDCandidate(owner.uid, 1)).not.toBe(a);
    expect(tokenIDCandidate('another-uid', 0)).not.toBe(a);
  });

  it('should draw the secret half from [a-z0-9], 16 characters', () => {
    const s = randomTokenSecret();
    expect(`abcdef.${s}`).toMatch(TOKEN_RE);
    expect(randomTokenSecret()).not.toBe(s);
    expect(randomTokenSecret(() => 0)).toBe('aaaaaaaaaaaaaaaa');
  });

  it("should write kubeadm's Secret format: name, type, usages, the node group and an RFC 3339 expiry", () => {
    const s = bootstrapTokenSecret('abcdef', '0123456789abcdef', T0 + TTL, owner);
    expect(s).toEqual({
      metadata: { name: 'bootstrap-token-abcdef', namespace: 'kube-system', labels: { [TOKEN_OWNER_LABEL]: owner.uid } },
      type: 'bootstrap.kubernetes.io/token',
      stringData: {
        description: 'Ironplane KairosConfig team-a/w-1: kubeadm join of one worker',
        'token-id': 'abcdef',
        'token-secret': '0123456789abcdef',
        expiration: '2026-09-01T10:15:00Z',
        'usage-bootstrap-authentication': 'true',
        'usage-bootstrap-signing': 'true',
        'auth-extra-groups': NODE_BOOTSTRAP_GROUP,
      },
    });
  });

  it('should read back only well-formed tokens', () => {
    const enc = (d: Record<string, string>) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    const ok = { metadata: { name: 'bootstrap-token-abcdef' }, type: 'bootstrap.kubernetes.io/token', data: enc({ 'token-id': 'abcdef', 'token-secret': '0123456789abcdef', expiration: '2026-09-01T10:15:00Z' }) };
    expect(readToken(ok)).toEqual({ id: 'abcdef', secret: '0123456789abcdef', expiresMs: T0 + TTL });
    expect(readToken({ ...ok, type: 'Opaque' })).toBeUndefined();
    expect(readToken({ ...ok, metadata: { name: 'bootstrap-token-zzzzzz' } })).toBeUndefined();
    expect(readToken({ ...ok, data: enc({ 'token-id': 'abcdef', 'token-secret': 'short' }) })).toBeUndefined();
  });

  it('should parse Go-style durations of hours, minutes and seconds', () => {
    expect(parseDuration('15m')).toBe(TTL);
    expect(parseDuration('1h30m10s')).toBe(5_410_000);
    expect(() => parseDuration('15 minutes')).toThrow('invalid duration "15 minutes"');
    expect(() => parseDuration('')).toThrow('invalid duration ""');
  });
});

describe('CA pins', () => {
  it("should hash each certificate's SubjectPublicKeyInfo, as an independent X.509 library computes it", async () => {
    const [a, b] = await Promise.all([createCA('pin-a'), createCA('pin-b')]);
    const independent = (pem: string) => `sha256:${createHash('sha256').update(Buffer.from(new PeculiarCertificate(pem).publicKey.rawData)).digest('hex')}`;
    expect(caCertHashes(a.certPem)).toEqual([independent(a.certPem)]);
    expect(caCertHashes(`${a.certPem}\n${b.certPem}`)).toEqual([independent(a.certPem), independent(b.certPem)]);
    expect(caCertHashes(a.certPem)[0]).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(() => caCertHashes('not a certificate')).toThrow('no PEM certificate found');
  });

  it('should take only the certificates of a bundle, never a key that sits next to them', async () => {
    const a = await createCA('pem-a');
    expect(pemCertificates(`${a.keyPem}\n${a.certPem}\n${a.keyPem}`)).toEqual([a.certPem.trim()]);
    expect(() => pemCertificates(a.keyPem)).toThrow('no PEM certificate found');
  });
});

describe('ensureBootstrapToken', () => {
  const opts = { owner, ttlMs: TTL, now: T0 };

  it('given no token, should create one in kube-system and return its secret', async () => {
    const t = new FakeTenant();
    const r = await ensureBootstrapToken(t.asClient(), opts);
    expect(r.action).toBe('created');
    expect(r.token.id).toBe(tokenIDCandidate(owner.uid, 0));
    expect(r.token.expiresMs).toBe(T0 + TTL);
    const stored = t.store.get(`kube-system/${tokenSecretName(r.token.id)}`);
    expect(field(stored, 'token-secret')).toBe(r.token.secret);
    expect(stored?.metadata?.labels).toEqual({ [TOKEN_OWNER_LABEL]: owner.uid });
  });

  it('given its own token (a run killed after creating it), should reuse it: one token, the same secret', async () => {
    const t = new FakeTenant();
    const first = await ensureBootstrapToken(t.asClient(), opts);
    const again = await ensureBootstrapToken(t.asClient(), { ...opts, now: T0 + 60_000 });
    expect(again).toEqual({ token: first.token, action: 'unchanged' });
    expect(t.store.size).toBe(1);
    expect(t.writes).toEqual([`create kube-system/${tokenSecretName(first.token.id)}`]);
  });

  it('should extend the expiry once less than 2/3 of the TTL is left, keeping the secret', async () => {
    const t = new FakeTenant();
    const first = await ensureBootstrapToken(t.asClient(), opts);
    expect((await ensureBootstrapToken(t.asClient(), { ...opts, now: T0 + TTL / 3 - 1000 })).action).toBe('unchanged');
    const later = T0 + TTL / 3 + 1000;
    const refreshed = await ensureBootstrapToken(t.asClient(), { ...opts, now: later });
    expect(refreshed.action).toBe('refreshed');
    expect(refreshed.token).toEqual({ ...first.token, expiresMs: later + TTL });
    expect(field(t.store.get(`kube-system/${tokenSecretName(first.token.id)}`), 'expiration')).toBe(new Date(later + TTL).toISOString().replace(/\.\d{3}Z$/, 'Z'));
  });

  it("given another config's token under the derived id, should leave it alone and use the next id", async () => {
    const t = new FakeTenant();
    const clash = tokenIDCandidate(owner.uid, 0);
    await t.create({} as ResourceType, bootstrapTokenSecret(clash, 'ffffffffffffffff', T0 + TTL, { ...owner, uid: 'someone-else' }));
    const r = await ensureBootstrapToken(t.asClient(), opts);
    expect(r.token.id).toBe(tokenIDCandidate(owner.uid, 1));
    expect(field(t.store.get(`kube-system/${tokenSecretName(clash)}`), 'token-secret')).toBe('ffffffffffffffff');
    // And again after a restart: still the second id, no third token.
    expect((await ensureBootstrapToken(t.asClient(), opts)).token.id).toBe(r.token.id);
    expect(t.store.size).toBe(2);
  });

  it('should try the id recorded in status first', async () => {
    const t = new FakeTenant();
    await t.create({} as ResourceType, bootstrapTokenSecret('zzzzzz', 'ffffffffffffffff', T0 + TTL, owner));
    const r = await ensureBootstrapToken(t.asClient(), { ...opts, knownID: 'zzzzzz' });
    expect(r).toEqual({ token: { id: 'zzzzzz', secret: 'ffffffffffffffff', expiresMs: T0 + TTL }, action: 'unchanged' });
  });

  it('should delete only its own token', async () => {
    const t = new FakeTenant();
    const r = await ensureBootstrapToken(t.asClient(), opts);
    expect(await deleteBootstrapToken(t.asClient(), r.token.id, 'someone-else')).toBe(false);
    expect(t.store.size).toBe(1);
    expect(await deleteBootstrapToken(t.asClient(), r.token.id, owner.uid)).toBe(true);
    expect(t.store.size).toBe(0);
    expect(await deleteBootstrapToken(t.asClient(), r.token.id, owner.uid)).toBe(false);
  });
});
