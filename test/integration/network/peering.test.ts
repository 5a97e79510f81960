// VPC peering by request, on the real apiserver with the kube-OVN CRDs: the
// KubeVirt manager makes each KvmCluster's Vpc, the network manager (each
// with exactly its RBAC, as real `ironplane manager` processes) peers them
// when a request is accepted. Tenants act as users with client certificates
// under config/tenant's ClusterRole and admission policy; a platform
// operator approves through the ironplane-peering-approver ClusterRole.
// Objects only: the OVN datapath is not part of this world.
import fs from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { KvmCluster } from '../../../providers/api/generated/ironplane/v1alpha1/kvmcluster.js';
import type { PeeringRequest } from '../../../providers/api/generated/ironplane/v1alpha1/peeringrequest.js';
import { Clusters } from '../../../providers/capi/contract.js';
import { ApiError, Client } from '../../../providers/kit/client.js';
import { getCondition } from '../../../providers/kit/conditions.js';
import { jsonEqual } from '../../../providers/kit/patch.js';
import { ConfigMaps, Events, Namespaces, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import { tenantNetworkName } from '../../../providers/kubevirt/names.js';
import { covers, renderNetwork } from '../../../providers/kubevirt/kvmcluster.js';
import { KvmClusters, Subnets, Vpcs } from '../../../providers/kubevirt/resources.js';
import { FIELD_MANAGER, PeeringRequests } from '../../../providers/network/names.js';
import { issueCert, startControlPlane, type ControlPlane } from '../../harness/index.js';
import { renderKubeconfig } from '../../harness/kubeconfig.js';
import { createCapiCluster, ownedBy } from '../capi-objects.js';
import { REPO, runTs, until, type Proc } from '../processes.js';
import { ensureNamespace, restrictedKubeconfig } from '../roles.js';

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

const K = {
  ClusterRole: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
  RoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
  ValidatingAdmissionPolicy: { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingAdmissionPolicy', plural: 'validatingadmissionpolicies', namespaced: false },
  ValidatingAdmissionPolicyBinding: { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingAdmissionPolicyBinding', plural: 'validatingadmissionpolicybindings', namespaced: false },
} satisfies Record<string, ResourceType>;

const WAIT_MS = 120_000;
const A = { ns: 'team-a', user: 'alice' };
const B = { ns: 'team-b', user: 'bob' };
const C = { ns: 'team-c', user: 'carol' };
const OPERATOR = 'olga';

let cp: ControlPlane;
let admin: Client;
let users: Record<string, Client>;
const procs: Proc[] = [];
let network: Proc;
/** The first c1–c2 link: allocation starts at a slot derived from the pair, so the pair gets it again once it is free. */
let firstLink: string | undefined;
let networkKubeconfig: string;

function userClient(name: string): Promise<Client> {
  return issueCert({ ca: cp.ca, commonName: name, usages: 'client' }).then((cert) => {
    const kc = new KubeConfig();
    kc.loadFromString(renderKubeconfig({ server: cp.url, caPem: cp.ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem, name: 'management', user: name }));
    return new Client(kc, { fieldManager: `${name}-kubectl`, timeoutMs: 30_000 });
  });
}

async function applyFile(file: string): Promise<void> {
  for (const doc of parseAllDocuments(fs.readFileSync(path.join(REPO, file), 'utf8'))) {
    const o = doc.toJS() as KubeObject;
    if (!o?.kind) continue;
    const rt = (K as Record<string, ResourceType>)[o.kind];
    if (!rt) continue; // e.g. the RoleBinding of the platform's class namespace
    await admin.apply(rt, o, { force: true });
  }
}

/** A topology-less Cluster and its KvmCluster, as CAPI would leave them; the KubeVirt manager makes the Vpc. */
async function kvmCluster(ns: string, name: string, nodeCIDR: string): Promise<void> {
  const uid = await createCapiCluster(admin, ns, name, 'KvmCluster');
  await admin.create<Obj>(KvmClusters, { metadata: ownedBy(ns, name, name, { kind: 'Cluster', name, uid }), spec: { network: { nodeCIDR } } });
}

/**
 * A Vpc after its last peering is gone: the lists stay, empty, under the
 * network manager (a Vpc never peered has an empty spec).
 */
const NO_PEERING = { vpcPeerings: [], staticRoutes: [] };

const vpcName = (ns: string, cluster: string) => tenantNetworkName(ns, cluster);
const vpc = (ns: string, cluster: string) => admin.get<Obj>(Vpcs, vpcName(ns, cluster));

function request(ns: string, name: string, clusterName: string, peer: { namespace?: string; clusterName: string }, extra: Record<string, unknown> = {}): PeeringRequest {
  return { apiVersion: 'network.ironplane.dev/v1alpha1', kind: 'PeeringRequest', metadata: { name, namespace: ns }, spec: { clusterName, peer, ...extra } };
}

const get = (ns: string, name: string) => admin.get<PeeringRequest>(PeeringRequests, name, ns);

async function phase(ns: string, name: string, want: string, reason?: string): Promise<PeeringRequest> {
  return until(
    `PeeringRequest ${ns}/${name} to be ${want}${reason ? ` (${reason})` : ''}`,
    async () => {
      const pr = await get(ns, name);
      const accepted = getCondition(pr.status?.conditions, 'Accepted');
      return pr.status?.phase === want && (!reason || accepted?.reason === reason) ? pr : undefined;
    },
    WAIT_MS,
  );
}

/** The apiserver's refusal of a write: its code and message. */
async function refusal(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('the write was accepted');
}

async function gone(ns: string, name: string): Promise<void> {
  await until(`PeeringRequest ${ns}/${name} to be gone`, async () => !(await admin.tryGet(PeeringRequests, name, ns)), WAIT_MS);
}

function manager(role: string, kubeconfig: string, extra: string[] = []): Proc {
  const p = runTs(path.join(REPO, 'providers/cli/main.ts'), [
    'manager',
    '--role',
    role,
    '--kubeconfig',
    kubeconfig,
    '--leader-elect',
    '--leader-election-namespace',
    'ironplane-system',
    '--metrics-bind-address',
    '0',
    '--health-probe-bind-address',
    '0',
    '--webhook-port',
    '0',
    '--log-level',
    'debug',
    ...extra,
  ]);
  procs.push(p);
  return p;
}

beforeAll(async () => {
  cp = await startControlPlane({ name: 'network-peering', crds: ['config/external/capi', 'config/external/kubevirt', 'config/external/kube-ovn', 'config/crd/bases'].map((p) => path.join(REPO, p)),
    // The garbage collector (a deleted Cluster takes its KvmCluster with it) and the policy type checker.
    controllerManager: true,
  });
  admin = new Client(cp.kubeConfig, { fieldManager: 'peering-test' });
  for (const t of [A, B, C]) await ensureNamespace(admin, t.ns);
  await ensureNamespace(admin, 'team-d');
  // The tenant model: the ClusterRole every tenant gets in its namespaces, the peering policy, the approver role.
  await applyFile('config/tenant/role.yaml');
  await applyFile('config/tenant/peering.yaml');
  users = {};
  for (const t of [A, B, C]) {
    await admin.apply(K.RoleBinding, {
      metadata: { name: `tenant-${t.user}`, namespace: t.ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ironplane-tenant' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: t.user }],
    } as KubeObject);
    users[t.user] = await userClient(t.user);
  }
  await admin.apply(K.ClusterRoleBinding, {
    metadata: { name: 'peering-approver-olga' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ironplane-peering-approver' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: OPERATOR }],
  } as KubeObject);
  users[OPERATOR] = await userClient(OPERATOR);

  // The VAP is enforced once its binding is loaded: wait until a tenant's self-approval is refused.
  await until(
    'the peering admission policy to be enforced',
    async () => {
      try {
        await users[A.user]!.create(PeeringRequests, request(A.ns, 'policy-probe', 'c1', { namespace: B.ns, clusterName: 'c2' }, { approval: { approvedBy: A.user } }), { dryRun: true });
        return false;
      } catch (e) {
        return e instanceof ApiError && e.code === 403 && e.message.includes('spec.approval');
      }
    },
    WAIT_MS,
  );

  await kvmCluster(A.ns, 'c1', '10.1.0.0/24');
  await kvmCluster(B.ns, 'c2', '10.2.0.0/24');
  await kvmCluster(C.ns, 'c3', '10.3.0.0/24');
  await kvmCluster('team-d', 'c4', '10.1.0.0/24'); // c1's range
  await kvmCluster(C.ns, 'c5', '10.5.0.0/24');
  await kvmCluster(C.ns, 'c7', '10.2.0.0/25'); // within c2's range
  await admin.create<Obj>(Clusters, { metadata: { name: 'metal', namespace: B.ns }, spec: { infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'MetalCluster', name: 'metal' } } });

  manager('kubevirt', await restrictedKubeconfig(cp, admin, 'kubevirt'));
  networkKubeconfig = await restrictedKubeconfig(cp, admin, 'network');
  network = manager('network', networkKubeconfig, ['--peering-acceptance', 'mirror,platform', '--peering-namespace', 'ironplane-system']);
  for (const [ns, c] of [
    [A.ns, 'c1'],
    [B.ns, 'c2'],
    [C.ns, 'c3'],
    ['team-d', 'c4'],
    [C.ns, 'c5'],
    [C.ns, 'c7'],
  ] as const) {
    await until(`the Vpc of ${ns}/${c}`, async () => (await admin.get<KvmCluster>(KvmClusters, c, ns)).status?.network?.vpc === vpcName(ns, c), WAIT_MS);
  }
}, 300_000);

afterAll(async () => {
  for (const p of procs) {
    if (process.env['IRONPLANE_TEST_LOG']) console.log(p.output());
    p.child.kill('SIGKILL');
    await p.exited;
  }
  admin?.close();
  await cp?.stop();
});

describe('the peering admission policy as shipped (config/tenant/peering.yaml)', () => {
  it('should type-check every expression against the PeeringRequest schema without warnings', async () => {
    const vap = await until(
      'the policy to be type-checked',
      async () => {
        const o = await admin.get<Obj & { status?: { observedGeneration?: number; typeChecking?: { expressionWarnings?: unknown[] } } }>(K.ValidatingAdmissionPolicy, 'ironplane-peering-requests');
        return o.status?.observedGeneration === o.metadata?.generation && o.status?.typeChecking ? o : undefined;
      },
      WAIT_MS,
    );
    expect(vap.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
  });
});

describe('given bad PeeringRequests, the apiserver', () => {
  const cases: [string, PeeringRequest, string][] = [
    ['an empty clusterName', request(A.ns, 'bad-1', '', { namespace: B.ns, clusterName: 'c2' }), 'spec.clusterName: Required value: the name of the Cluster in this namespace whose VPC is peered; required'],
    ['an empty peer', request(A.ns, 'bad-2', 'c1', { namespace: B.ns, clusterName: '' }), 'spec.peer.clusterName: Required value: the name of the Cluster to peer with; required'],
    ['a bad peer namespace', request(A.ns, 'bad-3', 'c1', { namespace: 'Team_B', clusterName: 'c2' }), `spec.peer.namespace: Invalid value: "Team_B": must be a namespace name: lower-case letters, digits and '-', starting and ending with a letter or digit (omit the field for this namespace)`],
    ['a bad cluster name', request(A.ns, 'bad-4', 'C1!', { namespace: B.ns, clusterName: 'c2' }), `spec.clusterName: Invalid value: "C1!": must be a Cluster name: lower-case letters, digits and '-', starting and ending with a letter or digit`],
    ['itself as the peer (namespace unset)', request(A.ns, 'bad-5', 'c1', { clusterName: 'c1' }), 'spec.peer: Invalid value: a Cluster cannot peer with itself: spec.peer names spec.clusterName in this namespace'],
  ];
  for (const [what, obj, message] of cases) {
    it(`should refuse ${what}, naming the field`, async () => {
      const r = await refusal(users[A.user]!.create(PeeringRequests, obj));
      expect(r.code).toBe(422);
      expect(r.message).toContain(message);
    });
  }

  it('should refuse itself as the peer named with its own namespace (admission policy)', async () => {
    const r = await refusal(users[A.user]!.create(PeeringRequests, request(A.ns, 'bad-6', 'c1', { namespace: A.ns, clusterName: 'c1' })));
    expect(r.code).toBe(422);
    expect(r.message).toContain('spec.peer: a Cluster cannot peer with itself');
  });

  it('should refuse a change of the peer: requests are immutable', async () => {
    await admin.create(PeeringRequests, request(A.ns, 'immutable', 'c1', { namespace: 'team-x', clusterName: 'x' }));
    const r = await refusal(admin.mergePatch(PeeringRequests, 'immutable', A.ns, { spec: { peer: { clusterName: 'y' } } }));
    expect(r.code).toBe(422);
    expect(r.message).toContain('spec.peer: Invalid value: is immutable: delete this request and make a new one');
    await admin.delete(PeeringRequests, 'immutable', A.ns);
  });
});

describe('given a tenant approving its own request', () => {
  it('should be refused by the admission policy on create, naming spec.approval', async () => {
    const r = await refusal(users[A.user]!.create(PeeringRequests, request(A.ns, 'self-approved', 'c1', { namespace: C.ns, clusterName: 'c3' }, { approval: { approvedBy: A.user } })));
    expect(r.code).toBe(403);
    expect(r.message).toContain("ValidatingAdmissionPolicy 'ironplane-peering-requests'");
    expect(r.message).toContain('spec.approval: only a platform operator (allowed update on peeringrequests/approve in network.ironplane.dev) may approve a PeeringRequest');
    expect(await admin.tryGet(PeeringRequests, 'self-approved', A.ns)).toBeUndefined();
  });

  it('should be refused by RBAC on update of an existing request', async () => {
    await users[A.user]!.create(PeeringRequests, request(A.ns, 'later-approved', 'c1', { namespace: C.ns, clusterName: 'c3' }));
    const r = await refusal(users[A.user]!.mergePatch(PeeringRequests, 'later-approved', A.ns, { spec: { approval: { approvedBy: A.user } } }));
    expect(r.code).toBe(403);
    expect(r.message).toContain('cannot patch resource "peeringrequests"');
    expect((await get(A.ns, 'later-approved')).spec?.approval).toBeUndefined();
    await users[A.user]!.delete(PeeringRequests, 'later-approved', A.ns);
    await gone(A.ns, 'later-approved');
  });

  it('should refuse an operator recording someone else as the approver', async () => {
    await users[A.user]!.create(PeeringRequests, request(A.ns, 'forged-approver', 'c1', { namespace: C.ns, clusterName: 'c3' }));
    const r = await refusal(users[OPERATOR]!.mergePatch(PeeringRequests, 'forged-approver', A.ns, { spec: { approval: { approvedBy: 'root' } } }));
    expect(r.code).toBe(403);
    expect(r.message).toContain(`spec.approval.approvedBy: must be the approving user as the apiserver knows it (${OPERATOR})`);
    await users[A.user]!.delete(PeeringRequests, 'forged-approver', A.ns);
    await gone(A.ns, 'forged-approver');
  });
});

describe('given mirror requests', () => {
  let link: { a: string; b: string; cidr: string };

  it('should wait, changing no Vpc, while only one side asks', async () => {
    await users[A.user]!.create(PeeringRequests, request(A.ns, 'to-c2', 'c1', { namespace: B.ns, clusterName: 'c2' }));
    const pr = await phase(A.ns, 'to-c2', 'Pending', 'WaitingForAcceptance');
    expect(getCondition(pr.status?.conditions, 'Accepted')?.message).toContain('waiting for the owner of team-b/c2 to create the mirror PeeringRequest in namespace team-b (spec.clusterName: c2, spec.peer: {namespace: team-a, clusterName: c1})');
    expect(pr.status?.requester).toEqual({ namespace: A.ns, clusterName: 'c1' });
    expect(pr.status?.peer).toBe('team-b/c2');
    expect((await vpc(A.ns, 'c1')).spec).toEqual({});
    expect((await vpc(B.ns, 'c2')).spec).toEqual({});
  });

  it('should program both Vpcs, exactly, once the peer asks too', async () => {
    await users[B.user]!.create(PeeringRequests, request(B.ns, 'to-c1', 'c2', { namespace: A.ns, clusterName: 'c1' }));
    const a = await phase(A.ns, 'to-c2', 'Active');
    const b = await phase(B.ns, 'to-c1', 'Active');
    expect(a.status?.acceptedBy).toBe('Mirror');
    expect(getCondition(a.status?.conditions, 'Accepted')).toMatchObject({ status: 'True', reason: 'MirrorRequest', message: 'accepted: team-b/to-c1 asks for the same peering' });
    expect(getCondition(a.status?.conditions, 'Ready')?.status).toBe('True');
    const ia = a.status!.interconnect!;
    const ib = b.status!.interconnect!;
    expect(ia.cidr).toBe(ib.cidr);
    expect(ia.cidr).toMatch(/^169\.254\.\d+\.\d+\/30$/);
    link = { cidr: ia.cidr!, a: ia.localConnectIP!.split('/')[0]!, b: ib.localConnectIP!.split('/')[0]! };
    firstLink = link.cidr;
    expect(ia.remoteConnectIP).toBe(link.b);
    expect(ib.remoteConnectIP).toBe(link.a);

    expect((await vpc(A.ns, 'c1')).spec).toEqual({
      vpcPeerings: [{ remoteVpc: vpcName(B.ns, 'c2'), localConnectIP: `${link.a}/30` }],
      staticRoutes: [{ policy: 'policyDst', cidr: '10.2.0.0/24', nextHopIP: link.b }],
    });
    expect((await vpc(B.ns, 'c2')).spec).toEqual({
      vpcPeerings: [{ remoteVpc: vpcName(A.ns, 'c1'), localConnectIP: `${link.b}/30` }],
      staticRoutes: [{ policy: 'policyDst', cidr: '10.1.0.0/24', nextHopIP: link.a }],
    });
    // The fields are this manager's, by server-side apply.
    const fields = ((await vpc(A.ns, 'c1')).metadata!.managedFields as { manager: string; operation: string; fieldsV1: { 'f:spec'?: Record<string, unknown> } }[]).find((f) => f.manager === FIELD_MANAGER);
    expect(fields?.operation).toBe('Apply');
    expect(Object.keys(fields?.fieldsV1['f:spec'] ?? {}).sort()).toEqual(['f:staticRoutes', 'f:vpcPeerings']);
    // The link is recorded in the apiserver.
    const records = (await admin.list<KubeObject & { data?: Record<string, string> }>(ConfigMaps, { namespace: 'ironplane-system', labelSelector: 'app.kubernetes.io/managed-by=ironplane-network' })).items;
    expect(records.map((r) => r.data)).toEqual([{ pair: 'team-a/c1|team-b/c2', link: link.cidr }]);
    // Events explain it.
    const events = (await admin.list<KubeObject & { reason?: string; note?: string }>(Events, { namespace: A.ns })).items.filter((e) => e.reason === 'Programmed');
    expect(events.some((e) => e.note?.includes(`peered over ${link.cidr}`))).toBe(true);
  });

  it('should keep its fields when the KvmCluster controller converges its own Vpc', async () => {
    // What the KvmCluster controller sends when its Vpc differs from what it
    // wants (kvmcluster.ts ensure): the rendered Vpc, forced, under its own
    // field manager, at the resourceVersion it read. It skips the write while
    // its labels and spec fields are in place (covers), so the write is made
    // here as it would make it.
    const before = await vpc(A.ns, 'c1');
    const kc = await admin.get<KvmCluster>(KvmClusters, 'c1', A.ns);
    const kubevirt = new Client(cp.kubeConfig, { fieldManager: 'ironplane-kubevirt' });
    const want = renderNetwork(kc).vpc;
    await kubevirt.apply(Vpcs, { ...want, metadata: { ...want.metadata, resourceVersion: before.metadata!.resourceVersion! } }, { force: true });
    kubevirt.close();
    const after = await vpc(A.ns, 'c1');
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata!.labels).toEqual(before.metadata!.labels);
    const managers = (after.metadata!.managedFields as { manager: string }[]).map((f) => f.manager);
    expect(managers).toContain('ironplane-kubevirt');
    expect(managers).toContain(FIELD_MANAGER);
    // And the KvmCluster controller, looking again, finds its Vpc as it wants it: no write.
    expect(covers(after, want)).toBe(true);
  });

  it('should add a second peering of the same Vpc beside the first (operator approval)', async () => {
    await users[A.user]!.create(PeeringRequests, request(A.ns, 'to-c3', 'c1', { namespace: C.ns, clusterName: 'c3' }));
    await phase(A.ns, 'to-c3', 'Pending', 'WaitingForAcceptance');
    await users[OPERATOR]!.mergePatch(PeeringRequests, 'to-c3', A.ns, { spec: { approval: { approvedBy: OPERATOR, reason: 'shared services' } } });
    const pr = await phase(A.ns, 'to-c3', 'Active');
    expect(pr.status?.acceptedBy).toBe('Platform');
    expect(pr.status?.approvedBy).toBe(OPERATOR);
    expect(getCondition(pr.status?.conditions, 'Accepted')).toMatchObject({ reason: 'PlatformApproval', message: `accepted: approved by ${OPERATOR} (shared services)` });
    const l3 = pr.status!.interconnect!;
    expect(l3.cidr).not.toBe(link.cidr);
    const [a3, c3] = [l3.localConnectIP!.split('/')[0]!, l3.remoteConnectIP!];
    const peerings = [
      { remoteVpc: vpcName(B.ns, 'c2'), localConnectIP: `${link.a}/30` },
      { remoteVpc: vpcName(C.ns, 'c3'), localConnectIP: `${a3}/30` },
    ].sort((x, y) => (x.remoteVpc < y.remoteVpc ? -1 : 1));
    expect((await vpc(A.ns, 'c1')).spec).toEqual({
      vpcPeerings: peerings,
      staticRoutes: [
        { policy: 'policyDst', cidr: '10.2.0.0/24', nextHopIP: link.b },
        { policy: 'policyDst', cidr: '10.3.0.0/24', nextHopIP: c3 },
      ],
    });
    expect((await vpc(C.ns, 'c3')).spec).toEqual({
      vpcPeerings: [{ remoteVpc: vpcName(A.ns, 'c1'), localConnectIP: `${c3}/30` }],
      staticRoutes: [{ policy: 'policyDst', cidr: '10.1.0.0/24', nextHopIP: a3 }],
    });
  });

  it("should remove only that request's entries from both Vpcs when one side withdraws, and leave the KvmCluster's own fields", async () => {
    const subnetName = (await admin.get<KvmCluster>(KvmClusters, 'c1', A.ns)).status!.network!.subnet!;
    const subnetBefore = await admin.get<Obj>(Subnets, subnetName);
    const labelsBefore = (await vpc(A.ns, 'c1')).metadata!.labels;
    await users[B.user]!.delete(PeeringRequests, 'to-c1', B.ns);
    await gone(B.ns, 'to-c1');
    await until('the c1-c2 peering to leave both Vpcs', async () => {
      const [a, b] = [await vpc(A.ns, 'c1'), await vpc(B.ns, 'c2')];
      return (a.spec?.['vpcPeerings'] as unknown[] | undefined)?.length === 1 && !(b.spec?.['vpcPeerings'] as unknown[] | undefined)?.length;
    }, WAIT_MS);
    const pr3 = await get(A.ns, 'to-c3');
    expect((await vpc(A.ns, 'c1')).spec).toEqual({
      vpcPeerings: [{ remoteVpc: vpcName(C.ns, 'c3'), localConnectIP: pr3.status!.interconnect!.localConnectIP }],
      staticRoutes: [{ policy: 'policyDst', cidr: '10.3.0.0/24', nextHopIP: pr3.status!.interconnect!.remoteConnectIP }],
    });
    expect((await vpc(B.ns, 'c2')).spec).toEqual(NO_PEERING);
    expect((await vpc(A.ns, 'c1')).metadata!.labels).toEqual(labelsBefore);
    expect((await admin.get<Obj>(Subnets, subnetName)).spec).toEqual(subnetBefore.spec);
    // The other side waits again.
    await phase(A.ns, 'to-c2', 'Pending', 'WaitingForAcceptance');
    const records = (await admin.list<KubeObject & { data?: Record<string, string> }>(ConfigMaps, { namespace: 'ironplane-system', labelSelector: 'app.kubernetes.io/managed-by=ironplane-network' })).items;
    expect(records.map((r) => r.data?.['pair'])).toEqual(['team-a/c1|team-c/c3']);
    await users[A.user]!.delete(PeeringRequests, 'to-c2', A.ns);
    await gone(A.ns, 'to-c2');
  });

  it('should take the peering down when the peer Cluster is deleted', async () => {
    await admin.delete(Clusters, 'c3', C.ns);
    const pr = await phase(A.ns, 'to-c3', 'Refused', 'PeerNotFound');
    expect(getCondition(pr.status?.conditions, 'Accepted')?.message).toBe('spec.peer: there is no Cluster team-c/c3');
    // The garbage collector deletes c3's KvmCluster, and the KubeVirt manager its Vpc: while it lasts, it loses the peering too.
    await until(
      'the c1-c3 peering to leave both Vpcs',
      async () => {
        const c3 = await admin.tryGet<Obj>(Vpcs, vpcName(C.ns, 'c3'));
        return jsonEqual((await vpc(A.ns, 'c1')).spec, NO_PEERING) && (!c3 || jsonEqual(c3.spec, NO_PEERING));
      },
      WAIT_MS,
    );
    await users[A.user]!.delete(PeeringRequests, 'to-c3', A.ns);
    await gone(A.ns, 'to-c3');
  });
});

describe('given requests that cannot be peered', () => {
  const refusedCases: [string, PeeringRequest, string, string][] = [
    ['overlapping node CIDRs', request(A.ns, 'overlap', 'c1', { namespace: 'team-d', clusterName: 'c4' }), 'CIDROverlap', 'spec.peer: the node CIDR of Cluster c1 (10.1.0.0/24) overlaps the node CIDR of the peer: overlapping ranges cannot be routed between two VPCs'],
    ['a peer that does not exist', request(A.ns, 'missing', 'c1', { namespace: B.ns, clusterName: 'nope' }), 'PeerNotFound', 'spec.peer: there is no Cluster team-b/nope'],
    ['a peer that is not KvmCluster-backed', request(A.ns, 'metal', 'c1', { namespace: B.ns, clusterName: 'metal' }), 'NotKvmCluster', 'spec.peer: Cluster team-b/metal runs on a MetalCluster, not a KvmCluster: only the VPCs of KvmCluster-backed Clusters can be peered'],
    ['a requesting Cluster that does not exist', request(A.ns, 'no-own', 'ghost', { namespace: B.ns, clusterName: 'c2' }), 'ClusterNotFound', 'spec.clusterName: there is no Cluster ghost in this namespace'],
  ];
  for (const [what, obj, reason, message] of refusedCases) {
    it(`should refuse ${what} with a condition naming the field, even when the other side asks too`, async () => {
      await users[A.user]!.create(PeeringRequests, obj);
      const pr = await phase(A.ns, obj.metadata.name!, 'Refused', reason);
      expect(getCondition(pr.status?.conditions, 'Accepted')).toMatchObject({ status: 'False', reason, message });
      expect(getCondition(pr.status?.conditions, 'Programmed')?.status).toBe('False');
      expect(pr.status?.interconnect).toBeUndefined();
      const warned = (await admin.list<KubeObject & { reason?: string; type?: string; regarding?: { name?: string } }>(Events, { namespace: A.ns })).items;
      expect(warned.some((e) => e.reason === reason && e.type === 'Warning' && e.regarding?.name === obj.metadata.name)).toBe(true);
      expect((await vpc(A.ns, 'c1')).spec).toEqual(NO_PEERING);
      await users[A.user]!.delete(PeeringRequests, obj.metadata.name!, A.ns);
      await gone(A.ns, obj.metadata.name!);
    });
  }

  it('should refuse overlapping CIDRs even with the mirror request and an approval, programming nothing', async () => {
    await users[A.user]!.create(PeeringRequests, request(A.ns, 'overlap-2', 'c1', { namespace: 'team-d', clusterName: 'c4' }));
    await admin.create(PeeringRequests, request('team-d', 'overlap-2', 'c4', { namespace: A.ns, clusterName: 'c1' }));
    await users[OPERATOR]!.mergePatch(PeeringRequests, 'overlap-2', A.ns, { spec: { approval: { approvedBy: OPERATOR } } });
    await phase(A.ns, 'overlap-2', 'Refused', 'CIDROverlap');
    await phase('team-d', 'overlap-2', 'Refused', 'CIDROverlap');
    expect((await vpc(A.ns, 'c1')).spec).toEqual(NO_PEERING);
    expect((await vpc('team-d', 'c4')).spec).toEqual({});
    await admin.delete(PeeringRequests, 'overlap-2', 'team-d');
    await users[A.user]!.delete(PeeringRequests, 'overlap-2', A.ns);
    await gone(A.ns, 'overlap-2');
  });
});

describe('given what the peering must not write over or route twice', () => {
  it("should not let a tenant make the mirror request in the peer's namespace", async () => {
    const r = await refusal(users[A.user]!.create(PeeringRequests, request(B.ns, 'forged-mirror', 'c2', { namespace: A.ns, clusterName: 'c1' })));
    expect(r.code).toBe(403);
    expect(r.message).toContain('User "alice" cannot create resource "peeringrequests" in API group "network.ironplane.dev" in the namespace "team-b"');
  });

  it("should leave a Vpc's peering fields alone when another manager holds them, and say so", async () => {
    // An operator's own route on c5's Vpc, applied with kubectl's field manager.
    const kubectl = new Client(cp.kubeConfig, { fieldManager: 'kubectl' });
    const theirs = { staticRoutes: [{ policy: 'policyDst', cidr: '192.168.0.0/24', nextHopIP: '10.5.0.254' }] };
    await kubectl.apply(Vpcs, { apiVersion: 'kubeovn.io/v1', kind: 'Vpc', metadata: { name: vpcName(C.ns, 'c5') }, spec: theirs });
    kubectl.close();
    await users[C.user]!.create(PeeringRequests, request(C.ns, 'to-c2', 'c5', { namespace: B.ns, clusterName: 'c2' }));
    await users[B.user]!.create(PeeringRequests, request(B.ns, 'to-c5', 'c2', { namespace: C.ns, clusterName: 'c5' }));
    const pr = await until(
      'the request to report the conflict',
      async () => {
        const o = await get(C.ns, 'to-c2');
        return getCondition(o.status?.conditions, 'Programmed')?.reason === 'VpcFieldConflict' ? o : undefined;
      },
      WAIT_MS,
    );
    expect(pr.status?.phase).toBe('Accepted');
    const message = getCondition(pr.status?.conditions, 'Programmed')!.message!;
    expect(message).toContain(`Vpc ${vpcName(C.ns, 'c5')}: spec.vpcPeerings or spec.staticRoutes is managed by another field manager`);
    expect(message).toContain('kubectl');
    expect(message).toContain('the peering does not write over it');
    expect((await vpc(C.ns, 'c5')).spec).toEqual(theirs);
    // Withdrawn: nothing of the pair stays anywhere, and the operator's route is still there.
    await users[C.user]!.delete(PeeringRequests, 'to-c2', C.ns);
    await users[B.user]!.delete(PeeringRequests, 'to-c5', B.ns);
    await gone(C.ns, 'to-c2');
    await gone(B.ns, 'to-c5');
    expect((await vpc(C.ns, 'c5')).spec).toEqual(theirs);
    expect((await vpc(B.ns, 'c2')).spec).toEqual(NO_PEERING);
  });

  it('should refuse a peer whose CIDR a Vpc already routes to another peer', async () => {
    await users[A.user]!.create(PeeringRequests, request(A.ns, 'to-c2', 'c1', { namespace: B.ns, clusterName: 'c2' }));
    await users[B.user]!.create(PeeringRequests, request(B.ns, 'to-c1', 'c2', { namespace: A.ns, clusterName: 'c1' }));
    await phase(A.ns, 'to-c2', 'Active');
    const before = (await vpc(A.ns, 'c1')).spec;
    // c7 (10.2.0.0/25) overlaps c2 (10.2.0.0/24), which c1 already routes to.
    await users[C.user]!.create(PeeringRequests, request(C.ns, 'to-c1', 'c7', { namespace: A.ns, clusterName: 'c1' }));
    await users[A.user]!.create(PeeringRequests, request(A.ns, 'to-c7', 'c1', { namespace: C.ns, clusterName: 'c7' }));
    const pr = await phase(C.ns, 'to-c1', 'Refused', 'RouteOverlap');
    expect(getCondition(pr.status?.conditions, 'Accepted')?.message).toBe('spec.peer: the peer already peers with a Cluster whose node CIDR overlaps the node CIDR of Cluster c7: a VPC cannot route one range to two peers');
    const mine = await phase(A.ns, 'to-c7', 'Refused', 'RouteOverlap');
    expect(getCondition(mine.status?.conditions, 'Accepted')?.message).toBe("spec.peer: Cluster c1 already peers with a Cluster whose node CIDR overlaps the peer's: a VPC cannot route one range to two peers");
    expect((await vpc(A.ns, 'c1')).spec).toEqual(before);
    expect((await vpc(C.ns, 'c7')).spec).toEqual({});
    for (const [ns, name] of [
      [C.ns, 'to-c1'],
      [A.ns, 'to-c7'],
      [A.ns, 'to-c2'],
      [B.ns, 'to-c1'],
    ] as const) {
      await admin.delete(PeeringRequests, name, ns);
      await gone(ns, name);
    }
    expect((await vpc(A.ns, 'c1')).spec).toEqual(NO_PEERING);
    const records = (await admin.list(ConfigMaps, { namespace: 'ironplane-system', labelSelector: 'app.kubernetes.io/managed-by=ironplane-network' })).items;
    expect(records).toEqual([]);
  });
});

describe('given a platform that accepts mirror requests only, from labelled namespaces', () => {
  const OPEN = 'network.ironplane.dev/peering';

  beforeAll(async () => {
    network.child.kill('SIGTERM');
    await network.exited;
    network = manager('network', networkKubeconfig, ['--peering-acceptance', 'mirror', '--peering-namespace', 'ironplane-system', '--peering-namespace-selector', `${OPEN}=allowed`]);
    for (const ns of [A.ns, B.ns]) await admin.mergePatch(Namespaces, ns, undefined, { metadata: { labels: { [OPEN]: 'allowed' } } });
  }, WAIT_MS);

  it('should refuse a peer in a namespace the selector leaves out, naming the field', async () => {
    await users[A.user]!.create(PeeringRequests, request(A.ns, 'to-c5', 'c1', { namespace: C.ns, clusterName: 'c5' }));
    const pr = await phase(A.ns, 'to-c5', 'Refused', 'NotAllowed');
    expect(getCondition(pr.status?.conditions, 'Accepted')?.message).toBe('spec.peer.namespace: namespace team-c is not open to VPC peering on this platform');
    await users[A.user]!.delete(PeeringRequests, 'to-c5', A.ns);
    await gone(A.ns, 'to-c5');
  });

  it("should not count an operator's approval, and say so", async () => {
    await users[A.user]!.create(PeeringRequests, request(A.ns, 'to-c2', 'c1', { namespace: B.ns, clusterName: 'c2' }));
    await users[OPERATOR]!.mergePatch(PeeringRequests, 'to-c2', A.ns, { spec: { approval: { approvedBy: OPERATOR } } });
    const pr = await until(
      'the approval to be looked at',
      async () => {
        const o = await get(A.ns, 'to-c2');
        return getCondition(o.status?.conditions, 'Accepted')?.message?.includes('does not count') ? o : undefined;
      },
      WAIT_MS,
    );
    expect(pr.status?.phase).toBe('Pending');
    expect(getCondition(pr.status?.conditions, 'Accepted')?.message).toContain(`the approval by ${OPERATOR} does not count: this platform accepts mirror requests only`);
    expect((await vpc(A.ns, 'c1')).spec).toEqual(NO_PEERING);
    // The mirror request still accepts it.
    await users[B.user]!.create(PeeringRequests, request(B.ns, 'to-c1', 'c2', { namespace: A.ns, clusterName: 'c1' }));
    const active = await phase(A.ns, 'to-c2', 'Active');
    expect(active.status?.acceptedBy).toBe('Mirror');
    // A restarted manager, a pair peered again: the same link.
    expect(active.status?.interconnect?.cidr).toBe(firstLink);
  });

  it("should sweep a pair's link and Vpc entries when its requests are removed without their finalizer", async () => {
    // An operator forcing the requests out while the manager is down: no
    // finalizer runs, and no request of the pair is left to tear it down.
    network.child.kill('SIGTERM');
    await network.exited;
    for (const [ns, name] of [
      [A.ns, 'to-c2'],
      [B.ns, 'to-c1'],
    ] as const) {
      await admin.mergePatch(PeeringRequests, name, ns, { metadata: { finalizers: null } });
      await admin.delete(PeeringRequests, name, ns);
      await gone(ns, name);
    }
    expect((await admin.list(ConfigMaps, { namespace: 'ironplane-system', labelSelector: 'app.kubernetes.io/managed-by=ironplane-network' })).items).toHaveLength(1);
    network = manager('network', networkKubeconfig, ['--peering-acceptance', 'mirror', '--peering-namespace', 'ironplane-system', '--peering-namespace-selector', 'network.ironplane.dev/peering=allowed']);
    await until('the pair to leave both Vpcs', async () => jsonEqual((await vpc(A.ns, 'c1')).spec, NO_PEERING) && jsonEqual((await vpc(B.ns, 'c2')).spec, NO_PEERING), WAIT_MS);
    await until('the link record to be deleted', async () => (await admin.list(ConfigMaps, { namespace: 'ironplane-system', labelSelector: 'app.kubernetes.io/managed-by=ironplane-network' })).items.length === 0, WAIT_MS);
    // The line follows the record's deletion: wait for it rather than race the manager's log.
    await until('the sweep to be logged', async () => network.output().includes('removed the peering of a pair no PeeringRequest names any more') || undefined, WAIT_MS);
  });
});

describe('given bad network flags', () => {
  const cases: [string[], string][] = [
    [['--peering-acceptance', 'anyone'], 'error: --peering-acceptance takes mirror, platform or mirror,platform, got "anyone"'],
    [['--peering-interconnect-range', '10.0.0.0/31'], 'error: the interconnect range 10.0.0.0/31 is smaller than one /30 link'],
    [['--peering-interconnect-range', 'fd00::/64'], 'error: the interconnect range must be an IPv4 CIDR such as 169.254.0.0/16, got "fd00::/64"'],
    [['--peering-namespace-selector', 'bad key=x'], 'error: namespace selector "bad key=x": "bad key" is not a label key'],
  ];
  for (const [flags, message] of cases) {
    it(`should exit 2 before connecting, given ${flags.join(' ')}`, async () => {
      const p = runTs(path.join(REPO, 'providers/cli/main.ts'), ['manager', '--role', 'network', '--kubeconfig', '/nonexistent', ...flags]);
      expect(await p.exited).toBe(2);
      expect(p.output()).toContain(message);
    });
  }
});
