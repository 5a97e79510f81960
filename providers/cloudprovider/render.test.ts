import { describe, expect, it } from 'vitest';
import type { KvmMachine } from '../api/generated/ironplane/v1alpha1/kvmmachine.js';
import { isOurs, nodeEndpoints, renderDnats, renderEip, renderRule, renderRuleService, requestedAddress, type TenantNode, type TenantService } from './render.js';
import { ADDRESS_ANNOTATION, dnatName, eipName, EXTERNAL_SUBNET_ANNOTATION, ruleName, ruleServiceName } from './names.js';

const machine = (name: string, ips: string[], extra: Partial<KvmMachine['metadata']> = {}): KvmMachine =>
  ({
    apiVersion: 'infrastructure.ironplane.dev/v1alpha1',
    kind: 'KvmMachine',
    metadata: { name, namespace: 'team-a', ...extra },
    status: { addresses: ips.map((address) => ({ type: 'InternalIP', address })) },
  }) as KvmMachine;

const node = (name: string, providerID: string, ips: string[], ready = 'True', labels: Record<string, string> = {}): TenantNode => ({
  metadata: { name, labels },
  spec: { providerID },
  status: { addresses: [...ips.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: name }], conditions: [{ type: 'Ready', status: ready }] },
});

describe('nodeEndpoints', () => {
  it("given Nodes of this cluster's KvmMachines, should use the addresses both the Node and the KvmMachine list", () => {
    const machines = [machine('w1', ['10.10.0.11']), machine('w2', ['10.10.0.12'])];
    const nodes = [node('w1', 'kubevirt://team-a/w1', ['10.10.0.11']), node('w2', 'kubevirt://team-a/w2', ['10.10.0.12'])];
    expect(nodeEndpoints('team-a', machines, nodes, 4)).toEqual(['10.10.0.11', '10.10.0.12']);
  });

  it('given a Node claiming an address its KvmMachine does not hold, should not use it', () => {
    expect(nodeEndpoints('team-a', [machine('w1', ['10.10.0.11'])], [node('w1', 'kubevirt://team-a/w1', ['10.20.0.99'])], 4)).toEqual([]);
  });

  it("given Nodes with another providerID (another namespace's machine, a foreign node), should never use them", () => {
    const nodes = [node('w1', 'kubevirt://team-b/w1', ['10.10.0.11']), node('x', 'aws:///i-123', ['10.10.0.11'])];
    expect(nodeEndpoints('team-a', [machine('w1', ['10.10.0.11'])], nodes, 4)).toEqual([]);
  });

  it('given a Node that is not Ready, is excluded, or a machine being deleted, should leave it out', () => {
    const machines = [machine('w1', ['10.10.0.11']), machine('w2', ['10.10.0.12']), machine('w3', ['10.10.0.13'], { deletionTimestamp: '2026-01-01T00:00:00Z' })];
    const nodes = [
      node('w1', 'kubevirt://team-a/w1', ['10.10.0.11'], 'False'),
      node('w2', 'kubevirt://team-a/w2', ['10.10.0.12'], 'True', { 'node.kubernetes.io/exclude-from-external-load-balancers': '' }),
      node('w3', 'kubevirt://team-a/w3', ['10.10.0.13']),
    ];
    expect(nodeEndpoints('team-a', machines, nodes, 4)).toEqual([]);
  });

  it("should keep only the VIP's family", () => {
    expect(nodeEndpoints('team-a', [machine('w1', ['10.10.0.11', 'fd10::11'])], [node('w1', 'kubevirt://team-a/w1', ['10.10.0.11', 'fd10::11'])], 6)).toEqual(['fd10::11']);
  });
});

const svc = (spec: TenantService['spec'], annotations?: Record<string, string>): TenantService => ({ metadata: { name: 'web', namespace: 'default', uid: 'svc-uid', ...(annotations ? { annotations } : {}) }, spec });

describe('isOurs and requestedAddress', () => {
  it('should serve LoadBalancer Services without a class or with ours, and no other', () => {
    expect(isOurs(svc({ type: 'LoadBalancer' }))).toBe(true);
    expect(isOurs(svc({ type: 'LoadBalancer', loadBalancerClass: 'ironplane.dev/switch-lb' }))).toBe(true);
    expect(isOurs(svc({ type: 'LoadBalancer', loadBalancerClass: 'metallb.io/metallb' }))).toBe(false);
    expect(isOurs(svc({ type: 'NodePort' }))).toBe(false);
  });

  it('should read the annotation before spec.loadBalancerIP, naming the field', () => {
    expect(requestedAddress(svc({ type: 'LoadBalancer', loadBalancerIP: '10.0.0.1' }))).toEqual({ field: 'spec.loadBalancerIP', value: '10.0.0.1' });
    expect(requestedAddress(svc({ type: 'LoadBalancer', loadBalancerIP: '10.0.0.1' }, { [ADDRESS_ANNOTATION]: '10.0.0.2' }))).toEqual({ field: `metadata.annotations[${ADDRESS_ANNOTATION}]`, value: '10.0.0.2' });
    expect(requestedAddress(svc({ type: 'LoadBalancer' }))).toBeUndefined();
  });
});

describe('renderRule', () => {
  it("should be kube-OVN's SwitchLBRule for the address, in the Cluster's namespace, to the node ports of the given nodes, with every owner mark", () => {
    const rule = renderRule({
      address: '192.0.2.5',
      pool: 'tenants',
      cluster: { kind: 'Cluster', namespace: 'team-a', name: 'prod', uid: 'cluster-uid' },
      service: { kind: 'Service', namespace: 'default', name: 'web', uid: 'svc-uid' },
      svc: svc({ type: 'LoadBalancer', sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }, { port: 53, nodePort: 30053, protocol: 'UDP' }, { port: 8080 }] }),
      endpoints: ['10.10.0.11', '10.10.0.12'],
    });
    expect(rule).toEqual({
      apiVersion: 'kubeovn.io/v1',
      kind: 'SwitchLBRule',
      metadata: {
        name: ruleName('192.0.2.5'),
        labels: {
          'app.kubernetes.io/managed-by': 'ironplane-cloud-provider',
          'cloudprovider.ironplane.dev/pool': 'tenants',
          'cloudprovider.ironplane.dev/cluster': 'prod',
          'cloudprovider.ironplane.dev/cluster-namespace': 'team-a',
          'cloudprovider.ironplane.dev/cluster-uid': 'cluster-uid',
          'cloudprovider.ironplane.dev/service': 'web',
          'cloudprovider.ironplane.dev/service-namespace': 'default',
          'cloudprovider.ironplane.dev/service-uid': 'svc-uid',
        },
      },
      spec: {
        vip: '192.0.2.5',
        namespace: 'team-a',
        sessionAffinity: 'ClientIP',
        ports: [
          { name: 'http', port: 80, targetPort: 30080, protocol: 'TCP' },
          { name: 'udp-53', port: 53, targetPort: 30053, protocol: 'UDP' },
        ],
        endpoints: ['10.10.0.11', '10.10.0.12'],
      },
    });
  });
});

describe('renderRuleService', () => {
  it("should be the headless Service kube-OVN keeps the VIP on, in the Cluster's namespace, naming the tenant's Vpc, with the rule's marks", () => {
    const cluster = { kind: 'Cluster', namespace: 'team-a', name: 'prod', uid: 'cluster-uid' };
    const service = { kind: 'Service', namespace: 'default', name: 'web', uid: 'svc-uid' };
    const s = renderRuleService({ address: '192.0.2.5', pool: 'tenants', cluster, service, vpc: 'team-a-prod-0123456789abcdef' });
    const rule = renderRule({ address: '192.0.2.5', pool: 'tenants', cluster, service, svc: svc({ type: 'LoadBalancer' }), endpoints: [] });
    expect(s).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: ruleServiceName(ruleName('192.0.2.5')),
        namespace: 'team-a',
        labels: rule.metadata.labels,
        annotations: { 'ovn.kubernetes.io/vpc': 'team-a-prod-0123456789abcdef', 'ovn.kubernetes.io/switch_lb_vip': '192.0.2.5' },
      },
      spec: { type: 'ClusterIP', clusterIP: 'None' },
    });
    expect(s.metadata!.name!.length).toBeLessThanOrEqual(63);
  });
});

describe('renderEip and renderDnats (pools with spec.externalSubnet)', () => {
  const cluster = { kind: 'Cluster', namespace: 'team-a', name: 'prod', uid: 'cluster-uid' };
  const service = { kind: 'Service', namespace: 'default', name: 'web', uid: 'svc-uid' };
  const ports: TenantService['spec'] = {
    type: 'LoadBalancer',
    ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }, { port: 53, nodePort: 30053, protocol: 'UDP' }, { name: 'no-node-port', port: 8080, protocol: 'TCP' }, { port: 443, nodePort: 30443 }],
  };
  const ruleFor = (address: string) => renderRule({ address, pool: 'public', cluster, service, svc: svc(ports), endpoints: ['10.10.0.11'], externalSubnet: 'external' });
  const marks = (address: string) => ({
    'app.kubernetes.io/managed-by': 'ironplane-cloud-provider',
    'cloudprovider.ironplane.dev/pool': 'public',
    'cloudprovider.ironplane.dev/cluster': 'prod',
    'cloudprovider.ironplane.dev/cluster-namespace': 'team-a',
    'cloudprovider.ironplane.dev/cluster-uid': 'cluster-uid',
    'cloudprovider.ironplane.dev/service': 'web',
    'cloudprovider.ironplane.dev/service-namespace': 'default',
    'cloudprovider.ironplane.dev/service-uid': 'svc-uid',
    'cloudprovider.ironplane.dev/rule': ruleName(address),
  });

  it('should record the external network on the rule, and on no rule of a pool without one', () => {
    expect(ruleFor('203.0.113.5').metadata.annotations).toEqual({ [EXTERNAL_SUBNET_ANNOTATION]: 'external' });
    expect(renderRule({ address: '203.0.113.5', pool: 'public', cluster, service, svc: svc(ports), endpoints: [] }).metadata.annotations).toBeUndefined();
  });

  it("should be an OvnEip of type nat with exactly the address in the external Subnet, named after the rule, with the rule's marks and name", () => {
    expect(renderEip({ rule: ruleFor('203.0.113.5'), subnet: 'external' })).toEqual({
      apiVersion: 'kubeovn.io/v1',
      kind: 'OvnEip',
      metadata: { name: ruleName('203.0.113.5'), labels: marks('203.0.113.5') },
      spec: { externalSubnet: 'external', type: 'nat', v4Ip: '203.0.113.5' },
    });
    expect(eipName('203.0.113.5')).toBe(ruleName('203.0.113.5'));
  });

  it("given an IPv6 address, should ask for it as the OvnEip's v6Ip and point the DNAT rules with v6Ip", () => {
    const address = 'fd00:1234:5678:9abc:def0:1234:5678:9abc';
    const rule = ruleFor(address);
    expect(renderEip({ rule, subnet: 'external' }).spec).toEqual({ externalSubnet: 'external', type: 'nat', v6Ip: address });
    const dnats = renderDnats({ rule, subnet: 'external', vpc: 'team-a-prod', entry: 'fd10::11', svc: svc(ports) });
    expect(dnats.map((d) => [d.spec?.v4Ip, d.spec?.v6Ip])).toEqual([
      [undefined, 'fd10::11'],
      [undefined, 'fd10::11'],
      [undefined, 'fd10::11'],
    ]);
    for (const d of dnats) expect(d.metadata.name!.length).toBeLessThanOrEqual(63);
  });

  it("should be one OvnDnatRule per port with a node port, on the tenant's router, from the EIP's port to the entry node's node port, protocol lower-cased", () => {
    const dnats = renderDnats({ rule: ruleFor('203.0.113.5'), subnet: 'external', vpc: 'team-a-prod-0123456789abcdef', entry: '10.10.0.11', svc: svc(ports) });
    const spec = (externalPort: string, internalPort: string, protocol: string) => ({ ovnEip: ruleName('203.0.113.5'), vpc: 'team-a-prod-0123456789abcdef', v4Ip: '10.10.0.11', externalPort, internalPort, protocol });
    expect(dnats).toEqual([
      { apiVersion: 'kubeovn.io/v1', kind: 'OvnDnatRule', metadata: { name: dnatName('203.0.113.5', 'tcp', 80), labels: marks('203.0.113.5') }, spec: spec('80', '30080', 'tcp') },
      { apiVersion: 'kubeovn.io/v1', kind: 'OvnDnatRule', metadata: { name: dnatName('203.0.113.5', 'udp', 53), labels: marks('203.0.113.5') }, spec: spec('53', '30053', 'udp') },
      // No protocol is TCP, as for the Service itself.
      { apiVersion: 'kubeovn.io/v1', kind: 'OvnDnatRule', metadata: { name: dnatName('203.0.113.5', 'tcp', 443), labels: marks('203.0.113.5') }, spec: spec('443', '30443', 'tcp') },
    ]);
  });

  it('should name the DNAT rules from the address, protocol and port alone: the same for another entry node, Vpc or node port', () => {
    const a = renderDnats({ rule: ruleFor('203.0.113.5'), subnet: 'external', vpc: 'vpc-a', entry: '10.10.0.11', svc: svc(ports) });
    const other = svc({ ...ports, ports: ports!.ports!.map((p) => ({ ...p, ...(p.nodePort ? { nodePort: p.nodePort + 1 } : {}) })) });
    const b = renderDnats({ rule: ruleFor('203.0.113.5'), subnet: 'external', vpc: 'vpc-b', entry: '10.10.0.12', svc: other });
    expect(b.map((d) => d.metadata.name)).toEqual(a.map((d) => d.metadata.name));
  });
});

describe('dnatName', () => {
  it('should be distinct per address, protocol and port, ignore the case of the protocol, and be a DNS label of at most 63 characters', () => {
    const names = [dnatName('203.0.113.5', 'tcp', 80), dnatName('203.0.113.5', 'udp', 80), dnatName('203.0.113.5', 'tcp', 443), dnatName('203.0.113.6', 'tcp', 80), dnatName('203.0.113.5', 'sctp', 80)];
    expect(new Set(names).size).toBe(names.length);
    expect(dnatName('203.0.113.5', 'TCP', 80)).toBe(dnatName('203.0.113.5', 'tcp', 80));
    expect(dnatName('203.0.113.5', 'tcp', 80)).toBe(dnatName('203.0.113.5', 'tcp', 80));
    for (const n of [...names, dnatName('fd00:1234:5678:9abc:def0:1234:5678:9abc', 'sctp', 65535)]) {
      expect(n.length).toBeLessThanOrEqual(63);
      expect(n).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(dnatName('203.0.113.5', 'tcp', 80)).not.toBe(eipName('203.0.113.5'));
  });
});
