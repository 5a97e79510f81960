import fs from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { Cluster } from '../capi/contract.js';
import { desiredRole, desiredRoleBinding, grantName, notOurs, tenantSubjects, type RoleBinding } from './kubeconfigaccess.js';

const cluster = (name = 'prod', uid = 'uid-1'): Cluster => ({ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', metadata: { name, namespace: 'team-a', uid } }) as Cluster;

const tenantBinding = (name: string, subjects: RoleBinding['subjects'], opts: { namespace?: string; role?: string; kind?: string } = {}): RoleBinding => ({
  metadata: { name, namespace: opts.namespace ?? 'team-a' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: opts.kind ?? 'ClusterRole', name: opts.role ?? 'ironplane-tenant' },
  subjects,
});
const group = (name: string) => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name });

describe('desiredRole', () => {
  it('should grant get on <cluster>-kubeconfig by name and nothing else', () => {
    expect(desiredRole(cluster()).rules).toEqual([{ apiGroups: [''], resources: ['secrets'], resourceNames: ['prod-kubeconfig'], verbs: ['get'] }]);
  });

  it('should be named after the Cluster, marked as ours, and controlled by the Cluster by uid', () => {
    const r = desiredRole(cluster());
    expect(r.metadata).toMatchObject({
      name: 'ironplane-kubeconfig-prod',
      namespace: 'team-a',
      labels: { 'cluster.x-k8s.io/cluster-name': 'prod', 'app.kubernetes.io/managed-by': 'ironplane-kairos' },
      ownerReferences: [{ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', name: 'prod', uid: 'uid-1', controller: true }],
    });
  });
});

describe('grantName', () => {
  it('given a name too long for the prefix, should hash it within 253 characters', () => {
    const long = 'c'.repeat(240);
    const n = grantName('team-a', long);
    expect(n.length).toBeLessThanOrEqual(253);
    expect(n).toMatch(/^ironplane-kubeconfig-c+-[0-9a-f]{16}$/);
    expect(grantName('team-b', long)).not.toBe(n);
  });
});

describe('tenantSubjects', () => {
  it('should be the union of the subjects bound to ironplane-tenant in the namespace, sorted and without repeats', () => {
    const subjects = tenantSubjects(
      [
        tenantBinding('capsule-acme-0', [group('acme-admins'), { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice' }]),
        tenantBinding('capsule-acme-1', [group('acme-admins'), group('acme-ops')]),
        tenantBinding('sa', [{ kind: 'ServiceAccount', name: 'ci' }]),
      ],
      'team-a',
    );
    expect(subjects).toEqual([group('acme-admins'), group('acme-ops'), { kind: 'ServiceAccount', name: 'ci', namespace: 'team-a' }, { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice' }]);
  });

  it('should ignore bindings of other roles, of a Role named ironplane-tenant, and of other namespaces', () => {
    expect(
      tenantSubjects(
        [
          tenantBinding('admin', [group('x')], { role: 'admin' }),
          tenantBinding('local', [group('y')], { kind: 'Role' }),
          tenantBinding('other', [group('z')], { namespace: 'team-b' }),
        ],
        'team-a',
      ),
    ).toEqual([]);
  });

  it('given no tenant binding, should give no subjects (the RoleBinding then binds nobody)', () => {
    expect(desiredRoleBinding(cluster(), tenantSubjects([], 'team-a'))).toMatchObject({ subjects: [], roleRef: { kind: 'Role', name: 'ironplane-kubeconfig-prod' } });
  });
});

describe('notOurs', () => {
  it('given what the controller makes for this Cluster, should accept it', () => {
    expect(notOurs(desiredRole(cluster()), cluster())).toBeUndefined();
    expect(notOurs(desiredRoleBinding(cluster(), []), cluster())).toBeUndefined();
  });

  it('given a Role with no controller ownerReference, should say so', () => {
    const r = desiredRole(cluster());
    delete r.metadata!.ownerReferences;
    expect(notOurs(r, cluster())).toBe('it has no controller ownerReference');
  });

  it('given a Role made for an earlier Cluster of the same name, should name both uids', () => {
    expect(notOurs(desiredRole(cluster('prod', 'old')), cluster('prod', 'new'))).toBe('it is controlled by Cluster prod (uid old, this one is new)');
  });

  it('given a controller ownerReference but no managed-by mark, should refuse it', () => {
    const r = desiredRole(cluster());
    r.metadata!.labels = {};
    expect(notOurs(r, cluster())).toBe('it is not marked app.kubernetes.io/managed-by=ironplane-kairos');
  });

  it('given a RoleBinding of ours by its marks that binds another role, should refuse it', () => {
    const b = desiredRoleBinding(cluster(), []);
    b.roleRef = { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' };
    expect(notOurs(b, cluster())).toBe('it binds ClusterRole admin, not Role ironplane-kubeconfig-prod');
  });
});

describe('config/tenant/kubeconfig-access.yaml', () => {
  it('should make what the controller makes, so that turning the controller on takes hand-made grants over', () => {
    const text = fs
      .readFileSync(new URL('../../config/tenant/kubeconfig-access.yaml', import.meta.url), 'utf8')
      .replace(/\$\{([A-Z_]+)\}/g, (_, k: string) => ({ CLUSTER_NAME: 'prod', NAMESPACE: 'team-a', CLUSTER_UID: 'uid-1', TENANT_GROUP: 'acme-admins' })[k] ?? `<no ${k}>`);
    const [role, binding] = parseAllDocuments(text).map((d) => d.toJS() as unknown);
    expect(role).toEqual(desiredRole(cluster()));
    expect(binding).toEqual(desiredRoleBinding(cluster(), [group('acme-admins')]));
    expect(notOurs(role as RoleBinding, cluster())).toBeUndefined();
  });
});
