import { describe, expect, it } from 'vitest';
import { hashedName, isControlledBy, nameHash, notControlledBy, notMarkedFor, ownerLabels, type Owner } from './ownership.js';

const KEYS = { name: 'example.dev/owner', namespace: 'example.dev/owner-namespace', uid: 'example.dev/owner-uid' };
const OWNER: Owner = { kind: 'KvmCluster', namespace: 'team-a', name: 'alpha', uid: 'uid-1' };

describe('hashedName', () => {
  it('should always append the hash, even when the readable part fits', () => {
    expect(hashedName('team-a-alpha', 'team-a/alpha')).toBe(`team-a-alpha-${nameHash('team-a/alpha')}`);
  });

  it('given readable parts that agree, should differ by the key', () => {
    expect(hashedName('team-a-alpha', 'team/a-alpha')).not.toBe(hashedName('team-a-alpha', 'team-a/alpha'));
  });

  it('should cut the readable part to fit max with the suffix, without a trailing dash or dot', () => {
    const n = hashedName(`${'a'.repeat(45)}.b`, 'k', { max: 63, suffix: '-userdata', form: 'subdomain' });
    expect(n.length).toBeLessThanOrEqual(63);
    expect(n).toMatch(/^a+-[0-9a-f]{16}-userdata$/);
  });

  it('given the label form, should replace dots; given the subdomain form, keep them', () => {
    expect(hashedName('team-a-prod.eu', 'k')).toMatch(/^team-a-prod-eu-[0-9a-f]{16}$/);
    expect(hashedName('team-a.prod.eu', 'k', { max: 253, form: 'subdomain' })).toMatch(/^team-a\.prod\.eu-[0-9a-f]{16}$/);
  });

  it('given no room for a readable part, should refuse', () => {
    expect(() => hashedName('x', 'k', { max: 17 })).toThrow('no room for a readable name in 17 characters');
  });
});

describe('notMarkedFor', () => {
  const obj = (labels?: Record<string, string>) => ({ metadata: { name: 'o', ...(labels ? { labels } : {}) } });

  it('given all three labels of the owner, should prove ownership', () => {
    expect(notMarkedFor(obj(ownerLabels(KEYS, OWNER)), KEYS, OWNER)).toBeUndefined();
  });

  it('given no labels, should say the object carries none', () => {
    expect(notMarkedFor(obj(), KEYS, OWNER)).toBe('it carries no Ironplane ownership labels (example.dev/owner, example.dev/owner-namespace, example.dev/owner-uid)');
  });

  it("given another namespace's owner, should not name that namespace or owner", () => {
    const why = notMarkedFor(obj(ownerLabels(KEYS, { ...OWNER, namespace: 'team-b', name: 'secret-project' })), KEYS, OWNER);
    expect(why).toBe('it is marked for a KvmCluster in another namespace');
  });

  it('given another owner of the same namespace, should name it', () => {
    expect(notMarkedFor(obj(ownerLabels(KEYS, { ...OWNER, name: 'beta' })), KEYS, OWNER)).toBe('it is marked for KvmCluster team-a/beta');
  });

  it('given an earlier owner of the same name, should say so with both uids', () => {
    expect(notMarkedFor(obj(ownerLabels(KEYS, { ...OWNER, uid: 'uid-0' })), KEYS, OWNER)).toBe('it is marked for an earlier KvmCluster team-a/alpha (uid uid-0, this one is uid-1)');
  });

  it('given name and namespace but no uid, should not take it as ours', () => {
    expect(notMarkedFor(obj({ [KEYS.name]: 'alpha', [KEYS.namespace]: 'team-a' }), KEYS, OWNER)).toBe('it has no example.dev/owner-uid label');
  });
});

describe('notControlledBy', () => {
  const ref = (kind: string, uid: string, controller?: boolean) => ({ apiVersion: 'x/v1', kind, name: 'm1', uid, ...(controller === undefined ? {} : { controller }) });
  const obj = (...ownerReferences: ReturnType<typeof ref>[]) => ({ metadata: { name: 'o', ownerReferences } });

  it('given a controller reference of the owner kind and uid, should prove it', () => {
    expect(isControlledBy(obj(ref('KvmMachine', 'u1', true)), { kind: 'KvmMachine', uid: 'u1' })).toBe(true);
    expect(notControlledBy(obj(ref('KvmMachine', 'u1', true)), { kind: 'KvmMachine', uid: 'u1' })).toBeUndefined();
  });

  it('given a reference that is not a controller, should not take it as ours', () => {
    expect(notControlledBy(obj(ref('KvmMachine', 'u1')), { kind: 'KvmMachine', uid: 'u1' })).toBe('it has no controller ownerReference');
  });

  it('given another controller, should name it', () => {
    expect(notControlledBy(obj(ref('KvmMachine', 'u0', true)), { kind: 'KvmMachine', uid: 'u1' })).toBe('it is controlled by KvmMachine m1 (uid u0, this one is u1)');
    expect(notControlledBy(obj(ref('Deployment', 'u9', true)), { kind: 'KvmMachine', uid: 'u1' })).toBe('it is controlled by Deployment m1');
  });

  it('given the same uid under another kind, should not take it as ours', () => {
    expect(isControlledBy(obj(ref('VirtualMachine', 'u1', true)), { kind: 'KvmMachine', uid: 'u1' })).toBe(false);
  });
});
