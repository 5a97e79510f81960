import { describe, expect, it } from 'vitest';
import type { MetalCluster } from '../api/generated/ironplane/v1alpha1/metalcluster.js';
import type { Cluster } from '../capi/contract.js';
import { endpointCheck } from './metalcluster.js';

type Endpoint = { host?: string; port?: number };

function metalCluster(controlPlaneEndpoint?: Endpoint): MetalCluster {
  return {
    apiVersion: 'infrastructure.ironplane.dev/v1alpha1',
    kind: 'MetalCluster',
    metadata: { name: 'tenant-a', namespace: 'team-a' },
    spec: controlPlaneEndpoint ? { controlPlaneEndpoint } : {},
  };
}

function cluster(controlPlaneEndpoint?: Endpoint): Cluster {
  return { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', metadata: { name: 'tenant-a', namespace: 'team-a' }, spec: controlPlaneEndpoint ? { controlPlaneEndpoint } : {} };
}

const WAITING = {
  status: false,
  reason: 'WaitingForControlPlaneEndpoint',
  message: 'waiting for the control-plane provider to set spec.controlPlaneEndpoint (Kamaji CP provider: --dynamic-infrastructure-clusters=MetalCluster), or set it to a pre-allocated VIP',
};

describe('endpointCheck', () => {
  it('given no endpoint, should wait for the control-plane provider to set one', () => {
    expect(endpointCheck(metalCluster(), cluster())).toEqual(WAITING);
    expect(endpointCheck({ ...metalCluster(), spec: undefined }, cluster({ host: '10.0.0.10', port: 6443 }))).toEqual(WAITING);
    expect(endpointCheck(metalCluster({ host: '', port: 0 }), cluster())).toEqual(WAITING);
    expect(endpointCheck(metalCluster({ port: 6443 }), cluster())).toEqual(WAITING);
  });

  it.each(['not a host!', 'https://cp.example.com', 'cp.example.com:6443', '-cp.example.com', 'cp_1.example.com', `${'a'.repeat(250)}.com`])(
    'given the host %j, should call it neither an IP address nor a DNS name',
    (h) => {
      expect(endpointCheck(metalCluster({ host: h }), cluster())).toEqual({
        status: false,
        reason: 'InvalidControlPlaneEndpoint',
        message: `spec.controlPlaneEndpoint.host "${h}" is neither an IP address nor a DNS name`,
      });
    },
  );

  it.each(['10.0.0.10', '2001:db8::10', 'cp.tenant-a.example.com', 'CP.Example.COM', 'localhost'])('given the host %j, should accept it', (h) => {
    expect(endpointCheck(metalCluster({ host: h }), cluster()).reason).toBe('EndpointSet');
  });

  it('given a VIP the control plane has not published yet, should accept it with the default port 6443 and say it waits', () => {
    expect(endpointCheck(metalCluster({ host: '10.0.0.10' }), cluster())).toEqual({ status: true, reason: 'EndpointSet', message: '10.0.0.10:6443, waiting for the control plane to publish it' });
  });

  it('given the endpoint the control plane published, should be ready, default ports being equal to 6443', () => {
    const ready = { status: true, reason: 'EndpointSet', message: '10.0.0.10:6443, served by the control plane' };
    expect(endpointCheck(metalCluster({ host: '10.0.0.10', port: 6443 }), cluster({ host: '10.0.0.10', port: 6443 }))).toEqual(ready);
    expect(endpointCheck(metalCluster({ host: '10.0.0.10' }), cluster({ host: '10.0.0.10', port: 6443 }))).toEqual(ready);
    expect(endpointCheck(metalCluster({ host: '10.0.0.10', port: 6443 }), cluster({ host: '10.0.0.10' }))).toEqual(ready);
    expect(endpointCheck(metalCluster({ host: 'cp.example.com', port: 443 }), cluster({ host: 'cp.example.com', port: 443 }))).toEqual({
      status: true,
      reason: 'EndpointSet',
      message: 'cp.example.com:443, served by the control plane',
    });
  });

  it('given a VIP that differs from the published host, should report the mismatch and how to fix it', () => {
    expect(endpointCheck(metalCluster({ host: '10.0.0.10', port: 6443 }), cluster({ host: '10.0.0.11', port: 6443 }))).toEqual({
      status: false,
      reason: 'ControlPlaneEndpointMismatch',
      message:
        'spec.controlPlaneEndpoint 10.0.0.10:6443 differs from 10.0.0.11:6443, which the control plane published on Cluster tenant-a: the tenant control plane does not serve this VIP (set KamajiControlPlane spec.network.serviceAddress to it)',
    });
  });

  it('given a VIP that differs from the published port only, should report the mismatch with both ports', () => {
    expect(endpointCheck(metalCluster({ host: '10.0.0.10', port: 443 }), cluster({ host: '10.0.0.10' }))).toEqual({
      status: false,
      reason: 'ControlPlaneEndpointMismatch',
      message:
        'spec.controlPlaneEndpoint 10.0.0.10:443 differs from 10.0.0.10:6443, which the control plane published on Cluster tenant-a: the tenant control plane does not serve this VIP (set KamajiControlPlane spec.network.serviceAddress to it)',
    });
  });
});
