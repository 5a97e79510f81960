// Every Ironplane CRD against the real apiserver: each kind admits a valid
// object and refuses invalid ones at admission (HTTP 422) with a message that
// names the field and says why; set-once fields can be set the first time and
// never changed or dropped after. The template kinds carry the same rules in
// spec.template.spec (without transition rules, which the ClusterClass
// dry-run compare would trip), so every spec case runs against them too.
// What ships in clusterclasses/ passes a server-side dry-run against these
// CRDs, and each valid object also passes the generated ajv validator.
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '../../providers/api/generated/ironplane/v1alpha1/index.js';
import { formatErrors, type Validator } from '../../providers/api/validate.js';
import { ApiError, Client } from '../../providers/kit/client.js';
import { Namespaces, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { startControlPlane, type ControlPlane } from '../harness/index.js';
import { REPO } from './processes.js';

const NS = 'crd';
type Spec = Record<string, unknown>;
type Obj = KubeObject & { spec?: Spec };

/** A refusal case: the spec, the field it names (relative to the spec) and what the message says. */
interface Bad {
  what: string;
  spec: Spec;
  field: string;
  message: string;
}

interface Kind {
  rt: ResourceType;
  template: ResourceType;
  validate: Validator<unknown>;
  validateTemplate: Validator<unknown>;
  valid: Spec[];
  /** Refused by the kind and, inside spec.template.spec, by its template kind. */
  bad: Bad[];
  /** Refused by the kind only (fields a template does not carry). */
  kindOnly?: Bad[];
}

let cp: ControlPlane;
let client: Client;
let n = 0;

beforeAll(async () => {
  cp = await startControlPlane({ name: 'crd-validation', crds: [path.join(REPO, 'config/crd/bases')] });
  client = new Client(cp.kubeConfig, { fieldManager: 'crd-validation-test' });
  await client.create(Namespaces, { metadata: { name: NS } });
});

afterAll(async () => {
  client?.close();
  await cp?.stop();
});

const obj = (spec: Spec | undefined): Obj => ({ metadata: { name: `o${n++}`, namespace: NS }, ...(spec === undefined ? {} : { spec }) });
const templated = (spec: Spec): Spec => ({ template: { spec } });
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A rule that failed to evaluate rather than said no: every rule guards the values it parses. */
const CEL_ERROR = /no such overload|no such key|evaluation error|network address parse error|IP Address .* parse error|compilation/i;

/** Creates the object and returns the apiserver's refusal, which must be a 422 Invalid. */
async function refusal(rt: ResourceType, o: Obj): Promise<string> {
  try {
    await client.create(rt, o);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    expect({ code: e.code, reason: e.reason }).toEqual({ code: 422, reason: 'Invalid' });
    expect(e.message).not.toMatch(CEL_ERROR);
    if (process.env['CRD_VALIDATION_PRINT']) console.log(e.message);
    return e.message;
  }
  throw new Error(`${rt.kind} ${JSON.stringify(o.spec)} was admitted but should have been refused`);
}

/** The apiserver's field error: "<path>: <type of error>[: <value>][: <message>]", e.g. "spec.network.gateway: Invalid value: "string": gateway must be inside nodeCIDR". */
function expectFieldError(msg: string, field: string, message: string): void {
  expect(msg).toMatch(new RegExp(`(^|[ \\[])${esc(field)}: .*${esc(message)}`));
}

async function patchRefusal(rt: ResourceType, name: string, patch: unknown): Promise<string> {
  try {
    await client.mergePatch(rt, name, NS, patch);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    expect({ code: e.code, reason: e.reason }).toEqual({ code: 422, reason: 'Invalid' });
    return e.message;
  }
  throw new Error(`${rt.kind} ${name}: ${JSON.stringify(patch)} was admitted but should have been refused`);
}

const IMAGE = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';
const OCI_IMAGE = `oci://${IMAGE}`;
const net = (network: Spec, rest: Spec = {}): Spec => ({ network, ...rest });
const cd = { containerDisk: { image: IMAGE } };
const vm = (spec: Spec): Spec => ({ image: cd, ...spec });
const dv = (dataVolume: Spec): Spec => ({ image: { dataVolume: { source: { http: { url: 'https://images.example.com/kairos.qcow2' } }, storage: '40Gi', ...dataVolume } } });
const phy = { id: 'eth0', type: 'phy', macAddress: '02:00:00:00:00:01' };
const bm = (spec: Spec): Spec => ({ image: { url: OCI_IMAGE }, ...spec });
const static4 = (n4: Spec): Spec => bm({ network: { links: [phy], networks: [{ link: 'eth0', type: 'ipv4', address: '192.168.10.21/24', ...n4 }] } });
const ep = (controlPlaneEndpoint: Spec): Spec => ({ controlPlaneEndpoint });

const ENDPOINT_CASES = (rest: Spec): Bad[] => [
  { what: 'an endpoint host that is not a host', spec: { ...rest, ...ep({ host: 'not a host!! \n', port: 6443 }) }, field: 'controlPlaneEndpoint.host', message: 'must be an IP address or a DNS name such as api.example.com, without scheme, port or spaces' },
  { what: 'an endpoint host with a scheme', spec: { ...rest, ...ep({ host: 'https://api.example.com', port: 6443 }) }, field: 'controlPlaneEndpoint.host', message: 'must be an IP address or a DNS name' },
  { what: 'an endpoint host with a port', spec: { ...rest, ...ep({ host: 'api.example.com:6443', port: 6443 }) }, field: 'controlPlaneEndpoint.host', message: 'must be an IP address or a DNS name' },
  { what: 'an endpoint host that is no IPv4 address', spec: { ...rest, ...ep({ host: '256.1.1.1', port: 6443 }) }, field: 'controlPlaneEndpoint.host', message: 'must be an IP address or a DNS name' },
  { what: 'the unspecified address as endpoint', spec: { ...rest, ...ep({ host: '0.0.0.0', port: 6443 }) }, field: 'controlPlaneEndpoint.host', message: 'must not be an unspecified, multicast, link-local or broadcast address' },
  { what: 'a multicast endpoint', spec: { ...rest, ...ep({ host: '224.0.0.1', port: 6443 }) }, field: 'controlPlaneEndpoint.host', message: 'must not be an unspecified, multicast, link-local or broadcast address' },
  { what: 'a link-local endpoint', spec: { ...rest, ...ep({ host: '169.254.10.1', port: 6443 }) }, field: 'controlPlaneEndpoint.host', message: 'must not be an unspecified, multicast, link-local or broadcast address' },
  { what: 'endpoint port 0', spec: { ...rest, ...ep({ host: '10.0.0.1', port: 0 }) }, field: 'controlPlaneEndpoint.port', message: 'should be greater than or equal to 1' },
  { what: 'endpoint port 70000', spec: { ...rest, ...ep({ host: '10.0.0.1', port: 70000 }) }, field: 'controlPlaneEndpoint.port', message: 'should be less than or equal to 65535' },
  { what: 'an endpoint port without a host', spec: { ...rest, ...ep({ port: 6443 }) }, field: 'controlPlaneEndpoint.host', message: 'a port needs a host' },
];

const KINDS: Record<string, Kind> = {
  KvmCluster: {
    rt: api.KvmClusterResource,
    template: api.KvmClusterTemplateResource,
    validate: api.validateKvmCluster,
    validateTemplate: api.validateKvmClusterTemplate,
    valid: [
      net(
        { nodeCIDR: '10.10.0.0/24', gateway: '10.10.0.1', excludeIPs: ['10.10.0.2..10.10.0.9', '10.10.0.254'] },
        { controlPlaneEndpoint: { host: 'api.team-a.example.com', port: 6443 }, failureDomains: { zoneLabel: 'topology.kubernetes.io/zone', nodeSelector: { 'ironplane.dev/vm-host': 'true' } } },
      ),
      net({ nodeCIDR: '172.16.0.0/12', gateway: '172.31.255.254' }, { controlPlaneEndpoint: { host: '127.0.0.1', port: 40123 } }),
      net({ nodeCIDR: '10.0.0.0/30', gateway: '10.0.0.2' }),
      net({ nodeCIDR: 'fd00:10::/64', gateway: 'fd00:10::1', excludeIPs: ['fd00:10::2..fd00:10::ff'] }, { controlPlaneEndpoint: { host: 'fd00::10', port: 443 } }),
    ],
    bad: [
      { what: 'no network', spec: {}, field: 'network', message: 'Required value' },
      { what: 'a node CIDR of 0.0.0.0/0', spec: net({ nodeCIDR: '0.0.0.0/0' }), field: 'network.nodeCIDR', message: 'prefix length must be from /8 to /30 for IPv4 or from /32 to /126 for IPv6' },
      { what: 'a loopback node CIDR', spec: net({ nodeCIDR: '127.0.0.0/8' }), field: 'network.nodeCIDR', message: 'must not overlap the unspecified, loopback, link-local, multicast or reserved ranges' },
      { what: 'a link-local node CIDR', spec: net({ nodeCIDR: '169.254.0.0/16' }), field: 'network.nodeCIDR', message: 'must not overlap the unspecified, loopback, link-local, multicast or reserved ranges' },
      { what: 'a multicast node CIDR', spec: net({ nodeCIDR: '224.0.0.0/8' }), field: 'network.nodeCIDR', message: 'must not overlap the unspecified, loopback, link-local, multicast or reserved ranges' },
      { what: 'a /8 around the loopback range', spec: net({ nodeCIDR: '0.0.0.0/8' }), field: 'network.nodeCIDR', message: 'must not overlap the unspecified, loopback' },
      { what: 'a /32 node CIDR', spec: net({ nodeCIDR: '10.0.0.5/32' }), field: 'network.nodeCIDR', message: 'prefix length must be from /8 to /30' },
      { what: 'a /31 node CIDR', spec: net({ nodeCIDR: '10.0.0.4/31' }), field: 'network.nodeCIDR', message: 'prefix length must be from /8 to /30' },
      { what: 'a host address with a prefix', spec: net({ nodeCIDR: '10.0.0.5/24' }), field: 'network.nodeCIDR', message: 'must be the network address of its prefix (no host bits set)' },
      { what: 'an IPv6 /16', spec: net({ nodeCIDR: 'fd00::/16' }), field: 'network.nodeCIDR', message: 'prefix length must be from /8 to /30 for IPv4 or from /32 to /126 for IPv6' },
      { what: 'an IPv6 CIDR in upper case', spec: net({ nodeCIDR: 'FD00:10::/64' }), field: 'network.nodeCIDR', message: 'must be written in canonical form' },
      { what: 'a node CIDR that is no CIDR', spec: net({ nodeCIDR: '10.10.0.0' }), field: 'network.nodeCIDR', message: 'must be a CIDR such as 10.10.0.0/24' },
      { what: 'a gateway equal to the network address', spec: net({ nodeCIDR: '10.10.0.0/24', gateway: '10.10.0.0' }), field: 'network.gateway', message: "gateway must not be nodeCIDR's network address" },
      { what: 'a gateway equal to the broadcast address', spec: net({ nodeCIDR: '10.10.0.0/24', gateway: '10.10.0.255' }), field: 'network.gateway', message: "gateway must not be nodeCIDR's broadcast address" },
      { what: 'a gateway equal to the broadcast address of a /30', spec: net({ nodeCIDR: '10.0.0.4/30', gateway: '10.0.0.7' }), field: 'network.gateway', message: "gateway must not be nodeCIDR's broadcast address" },
      { what: 'a gateway outside its subnet', spec: net({ nodeCIDR: '10.10.0.0/24', gateway: '10.20.0.1' }), field: 'network.gateway', message: 'gateway must be inside nodeCIDR' },
      { what: 'an IPv6 gateway on an IPv4 network', spec: net({ nodeCIDR: '10.10.0.0/24', gateway: '2001:db8::1' }), field: 'network.gateway', message: 'gateway must be of the address family of nodeCIDR' },
      { what: 'a gateway that is no IP', spec: net({ nodeCIDR: '10.10.0.0/24', gateway: 'router' }), field: 'network.gateway', message: 'must be an IP address' },
      { what: 'garbage in excludeIPs', spec: net({ nodeCIDR: '10.10.0.0/24', excludeIPs: ['10.10.0.2', 'garbage'] }), field: 'network.excludeIPs[1]', message: 'must be an IP address or a range first..last of one address family' },
      { what: 'a half-open range in excludeIPs', spec: net({ nodeCIDR: '10.10.0.0/24', excludeIPs: ['10.10.0.2..'] }), field: 'network.excludeIPs[0]', message: 'must be an IP address or a range first..last' },
      { what: 'a mixed-family range in excludeIPs', spec: net({ nodeCIDR: '10.10.0.0/24', excludeIPs: ['10.10.0.2..fd00::1'] }), field: 'network.excludeIPs[0]', message: 'must be an IP address or a range first..last of one address family' },
      { what: 'excludeIPs outside the subnet', spec: net({ nodeCIDR: '10.10.0.0/24', excludeIPs: ['10.10.0.2..10.10.1.9'] }), field: 'network.excludeIPs', message: 'every excludeIPs address must lie inside nodeCIDR' },
      { what: 'duplicate excludeIPs', spec: net({ nodeCIDR: '10.10.0.0/24', excludeIPs: ['10.10.0.2', '10.10.0.2'] }), field: 'network.excludeIPs[1]', message: 'Duplicate value' },
      ...ENDPOINT_CASES(net({ nodeCIDR: '10.10.0.0/24' })),
      { what: 'a node selector key that is no label key', spec: net({ nodeCIDR: '10.10.0.0/24' }, { failureDomains: { nodeSelector: { 'bad key!': 'true' } } }), field: 'failureDomains.nodeSelector', message: 'nodeSelector keys must be label keys' },
      { what: 'a node selector value that is no label value', spec: net({ nodeCIDR: '10.10.0.0/24' }, { failureDomains: { nodeSelector: { 'ironplane.dev/vm-host': 'not valid!' } } }), field: 'failureDomains.nodeSelector.ironplane.dev/vm-host', message: 'should match' },
      { what: 'a zone label that is no label key', spec: net({ nodeCIDR: '10.10.0.0/24' }, { failureDomains: { zoneLabel: '-zone' } }), field: 'failureDomains.zoneLabel', message: 'must be a label key such as topology.kubernetes.io/zone' },
    ],
  },

  KvmMachine: {
    rt: api.KvmMachineResource,
    template: api.KvmMachineTemplateResource,
    validate: api.validateKvmMachine,
    validateTemplate: api.validateKvmMachineTemplate,
    valid: [
      vm({ memory: '8Gi', cpu: { cores: 4, sockets: 2, threads: 2 }, gpus: [{ name: 'gpu1', deviceName: 'nvidia.com/GA102GL_A10' }], hostDevices: [{ name: 'nic', deviceName: 'intel.com/sriov_net' }] }),
      vm({ memory: 4294967296, image: { containerDisk: { image: 'registry.internal:5000/kairos/ubuntu@sha256:' + 'a'.repeat(64) } } }),
      dv({ storageClassName: 'local-nvme' }),
      { image: { dataVolume: { source: { registry: { url: 'docker://quay.io/kairos/ubuntu:24.04' } }, storage: '1Ti' } }, memory: '16Ti' },
      { image: { dataVolume: { source: { pvc: { name: 'golden.v1', namespace: NS } }, storage: '10Gi' } }, memory: '1Gi' },
    ],
    bad: [
      { what: 'a negative memory size', spec: vm({ memory: '-5Gi' }), field: 'memory', message: 'must be from 1Gi to 16Ti' },
      { what: 'zero memory', spec: vm({ memory: 0 }), field: 'memory', message: 'must be from 1Gi to 16Ti' },
      { what: 'an absurd memory size', spec: vm({ memory: '1e400' }), field: 'memory', message: 'must be from 1Gi to 16Ti' },
      { what: 'a millibyte of memory', spec: vm({ memory: '1m' }), field: 'memory', message: 'must be from 1Gi to 16Ti' },
      { what: 'more memory than any host has', spec: vm({ memory: '32Ti' }), field: 'memory', message: 'must be from 1Gi to 16Ti' },
      { what: 'a fraction of a byte', spec: vm({ memory: '1073741824.5' }), field: 'memory', message: 'must be a whole number of bytes' },
      { what: 'memory that is no quantity', spec: vm({ memory: 'lots' }), field: 'memory', message: 'must be a quantity such as 4Gi' },
      { what: 'too many vCPUs', spec: vm({ cpu: { cores: 512, sockets: 16, threads: 1 } }), field: 'cpu', message: 'cores × sockets × threads must be at most 512 vCPUs' },
      { what: 'an image name with whitespace', spec: vm({ image: { containerDisk: { image: 'quay.io/kairos/ubuntu: 24.04' } } }), field: 'image.containerDisk.image', message: 'must be an OCI image reference such as quay.io/kairos/ubuntu:24.04' },
      { what: 'an image name with a newline', spec: vm({ image: { containerDisk: { image: 'quay.io/kairos/ubuntu:24.04\nx' } } }), field: 'image.containerDisk.image', message: 'must be an OCI image reference' },
      { what: 'an image URL instead of a reference', spec: vm({ image: { containerDisk: { image: 'https://quay.io/kairos/ubuntu:24.04' } } }), field: 'image.containerDisk.image', message: 'must be an OCI image reference' },
      { what: 'an image with an upper-case repository', spec: vm({ image: { containerDisk: { image: 'quay.io/Kairos/Ubuntu' } } }), field: 'image.containerDisk.image', message: 'must be an OCI image reference' },
      { what: 'an empty PVC name', spec: { image: { dataVolume: { source: { pvc: { name: '' } }, storage: '10Gi' } } }, field: 'image.dataVolume.source.pvc.name', message: 'should be at least 1 chars long' },
      { what: 'a PVC name that is no name', spec: { image: { dataVolume: { source: { pvc: { name: 'Golden Image' } }, storage: '10Gi' } } }, field: 'image.dataVolume.source.pvc.name', message: 'must be a PersistentVolumeClaim name' },
      { what: 'a PVC namespace that is no namespace', spec: { image: { dataVolume: { source: { pvc: { name: 'golden', namespace: 'Team_B' } }, storage: '10Gi' } } }, field: 'image.dataVolume.source.pvc.namespace', message: 'must be a namespace name' },
      { what: 'a zero disk', spec: dv({ storage: '0' }), field: 'image.dataVolume.storage', message: 'must be from 1Gi to 64Ti' },
      { what: 'a negative disk', spec: dv({ storage: '-5Gi' }), field: 'image.dataVolume.storage', message: 'must be from 1Gi to 64Ti' },
      { what: 'a StorageClass name with spaces', spec: dv({ storageClassName: 'fast ssd' }), field: 'image.dataVolume.storageClassName', message: 'must be a StorageClass name' },
      { what: 'credentials in an http URL', spec: { image: { dataVolume: { source: { http: { url: 'https://user:secret@images.example.com/k.qcow2' } }, storage: '10Gi' } } }, field: 'image.dataVolume.source.http.url', message: 'must be an http:// or https:// URL with a host and no credentials or whitespace' },
      { what: 'whitespace in an http URL', spec: { image: { dataVolume: { source: { http: { url: 'https://images.example.com/a b.qcow2' } }, storage: '10Gi' } } }, field: 'image.dataVolume.source.http.url', message: 'must be an http:// or https:// URL' },
      { what: 'a registry URL with no image', spec: { image: { dataVolume: { source: { registry: { url: 'docker://' } }, storage: '10Gi' } } }, field: 'image.dataVolume.source.registry.url', message: 'must be docker:// and an OCI image reference' },
      { what: 'a device name that is no resource name', spec: vm({ gpus: [{ name: 'gpu1', deviceName: 'nvidia.com/A10 GPU' }] }), field: 'gpus[0].deviceName', message: 'must be a resource name such as nvidia.com/GA102GL_A10' },
    ],
    kindOnly: [{ what: 'a providerID of another provider', spec: vm({ providerID: 'aws:///eu-west-1a/i-0123' }), field: 'providerID', message: 'must be kubevirt://<namespace>/<name>' }],
  },

  MetalCluster: {
    rt: api.MetalClusterResource,
    template: api.MetalClusterTemplateResource,
    validate: api.validateMetalCluster,
    validateTemplate: api.validateMetalClusterTemplate,
    valid: [{ controlPlaneEndpoint: { host: '10.20.0.5', port: 6443 }, hostPools: [{ namespace: 'pool-a' }], failureDomains: { zoneLabel: 'topology.kubernetes.io/zone' } }, {}, { controlPlaneEndpoint: { host: 'API.Example.com', port: 443 } }],
    bad: [
      ...ENDPOINT_CASES({}),
      { what: 'a host pool that is no namespace', spec: { hostPools: [{ namespace: 'Pool_A' }] }, field: 'hostPools[0].namespace', message: 'should match' },
      { what: 'a host pool twice', spec: { hostPools: [{ namespace: 'pool-a' }, { namespace: 'pool-a' }] }, field: 'hostPools[1]', message: 'Duplicate value' },
      { what: 'a zone label that is no label key', spec: { failureDomains: { zoneLabel: 'zone label' } }, field: 'failureDomains.zoneLabel', message: 'should match' },
    ],
  },

  MetalMachine: {
    rt: api.MetalMachineResource,
    template: api.MetalMachineTemplateResource,
    validate: api.validateMetalMachine,
    validateTemplate: api.validateMetalMachineTemplate,
    valid: [
      bm({
        hostSelector: { matchLabels: { 'ironplane.dev/host-class': 'general' }, matchExpressions: [{ key: 'rack', operator: 'In', values: ['r1', 'r2'] }] },
        network: {
          links: [phy, { id: 'eth1', type: 'phy', fromHostInterface: 'eno2' }, { id: 'bond0', type: 'bond', bondLinks: ['eth0', 'eth1'], bondMode: '802.3ad' }, { id: 'vlan100', type: 'vlan', vlanLink: 'bond0', vlanId: 100 }],
          networks: [
            { link: 'vlan100', type: 'ipv4', address: '192.168.10.21/24', gateway: '192.168.10.1' },
            { link: 'vlan100', type: 'ipv6', address: '2001:db8::10/64', gateway: 'fe80::1' },
            { link: 'eth0', type: 'ipv4', address: '203.0.113.7/32' },
            { link: 'eth1', type: 'ipv4_dhcp' },
          ],
          nameservers: ['192.168.10.1', '2001:db8::53'],
        },
      }),
      { image: { url: 'https://images.example.com/kairos.raw', checksum: 'a'.repeat(64), checksumType: 'sha256', format: 'raw' } },
      { image: { url: 'https://images.example.com/kairos.qcow2', checksum: 'https://images.example.com/kairos.qcow2.sha256sum' } },
      { image: { url: 'file:///var/lib/images/kairos.iso', format: 'live-iso' } },
    ],
    bad: [
      { what: 'no image', spec: {}, field: 'image', message: 'Required value' },
      { what: 'credentials in the image URL', spec: { image: { url: 'https://user:pw@images.example.com/k.raw', checksum: 'a'.repeat(64) } }, field: 'image.url', message: 'must be an http(s):// or oci:// URL with a host and no credentials, or a file:/// path; no whitespace' },
      { what: 'whitespace in the image URL', spec: { image: { url: 'https://images.example.com/k 1.raw', checksum: 'a'.repeat(64) } }, field: 'image.url', message: 'must be an http(s):// or oci:// URL' },
      { what: 'an image URL with no host', spec: { image: { url: 'https:///k.raw', checksum: 'a'.repeat(64) } }, field: 'image.url', message: 'must be an http(s):// or oci:// URL' },
      { what: 'an unsupported URL scheme', spec: { image: { url: 'ftp://images.example.com/k.raw', checksum: 'a'.repeat(64) } }, field: 'image.url', message: 'must be an http(s):// or oci:// URL' },
      { what: 'an oci:// URL that is no image reference', spec: { image: { url: 'oci://quay.io/Kairos/Ubuntu:24.04' } }, field: 'image.url', message: 'an oci:// URL must name an OCI image reference' },
      { what: 'a checksum that is neither digest nor URL', spec: { image: { url: 'https://images.example.com/k.raw', checksum: 'abc' } }, field: 'image.checksum', message: 'must be a hex digest (md5, sha256 or sha512) or the http(s) URL of a checksum file' },
      { what: 'a host label key that is no label key', spec: bm({ hostSelector: { matchLabels: { 'bad key': 'x' } } }), field: 'hostSelector.matchLabels', message: 'matchLabels keys must be label keys' },
      { what: 'a host label value that is no label value', spec: bm({ hostSelector: { matchLabels: { rack: 'r 1' } } }), field: 'hostSelector.matchLabels.rack', message: 'should match' },
      { what: 'a selector value that is no label value', spec: bm({ hostSelector: { matchExpressions: [{ key: 'rack', operator: 'In', values: ['r 1'] }] } }), field: 'hostSelector.matchExpressions[0].values[0]', message: 'should match' },
      { what: 'a NIC name with a shell command', spec: bm({ network: { links: [{ id: 'eth0', type: 'phy', fromHostInterface: 'e;rm -rf /' }] } }), field: 'network.links[0].fromHostInterface', message: 'should match' },
      { what: 'a static address that is the network address', spec: static4({ address: '192.168.10.0/24' }), field: 'network.networks[0].address', message: 'is the network address of its prefix, not a host address' },
      { what: 'a static address that is the broadcast address', spec: static4({ address: '192.168.10.255/24' }), field: 'network.networks[0].address', message: 'is the broadcast address of its prefix, not a host address' },
      { what: 'a loopback static address', spec: static4({ address: '127.0.0.5/8' }), field: 'network.networks[0].address', message: 'must be a unicast host address' },
      { what: 'an unspecified static address', spec: static4({ address: '0.0.0.0/0' }), field: 'network.networks[0].address', message: 'must be a unicast host address' },
      { what: 'an IPv6 address on an ipv4 network', spec: static4({ address: '2001:db8::10/64' }), field: 'network.networks[0].address', message: 'address 2001:db8::10/64 is not an IPv4 address, as type ipv4 says' },
      { what: 'an IPv6 gateway on an ipv4 network', spec: static4({ gateway: '2001:db8::1' }), field: 'network.networks[0].gateway', message: 'gateway 2001:db8::1 is not an IPv4 address, as type ipv4 says' },
      { what: 'a gateway outside its subnet', spec: static4({ gateway: '192.168.20.1' }), field: 'network.networks[0].gateway', message: "gateway must be inside the address's subnet" },
      { what: "a gateway that is the host's own address", spec: static4({ gateway: '192.168.10.21' }), field: 'network.networks[0].gateway', message: "gateway must not be the host's own address" },
      { what: 'a gateway that is the network address', spec: static4({ gateway: '192.168.10.0' }), field: 'network.networks[0].gateway', message: "gateway must not be the subnet's network address" },
      { what: 'a gateway that is the broadcast address', spec: static4({ gateway: '192.168.10.255' }), field: 'network.networks[0].gateway', message: "gateway must not be the subnet's broadcast address" },
      { what: 'a multicast gateway', spec: static4({ gateway: '224.0.0.1' }), field: 'network.networks[0].gateway', message: 'must be a unicast address' },
      { what: 'an unspecified nameserver', spec: bm({ network: { nameservers: ['0.0.0.0'] } }), field: 'network.nameservers[0]', message: 'must not be an unspecified, multicast or broadcast address' },
      { what: 'a nameserver that is no IP', spec: bm({ network: { nameservers: ['dns.example.com'] } }), field: 'network.nameservers[0]', message: 'must be an IP address' },
    ],
    kindOnly: [{ what: 'a providerID of another provider', spec: bm({ providerID: 'metal3://only-one-part' }), field: 'providerID', message: 'must be metal3://<host namespace>/<host>/<MetalMachine>' }],
  },

  KairosConfig: {
    rt: api.KairosConfigResource,
    template: api.KairosConfigTemplateResource,
    validate: api.validateKairosConfig,
    validateTemplate: api.validateKairosConfigTemplate,
    valid: [
      {
        install: { device: '/dev/disk/by-path/pci-0000:00:1f.2-ata-1' },
        files: [{ path: '/etc/motd', content: 'hi' }, { path: '/etc/kubernetes/ironplane2/a', content: 'x' }, { path: '/etc/ironplane/provider-id.bak', content: 'x' }],
        users: [{ name: 'ops', shell: '/bin/bash', sshAuthorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI ops@example'] }],
        nodeLabels: { 'node.ironplane.dev/class': 'general' },
        kubelet: { extraArgs: [{ name: 'max-pods', value: '200' }] },
      },
      {},
    ],
    bad: [
      { what: 'a path through ..', spec: { files: [{ path: '/etc/kubernetes/x/../ironplane/join.yaml', content: 'x' }] }, field: 'files[0].path', message: 'must be a normalised absolute path: no "." or ".." segments and no "//"' },
      { what: 'a path through .', spec: { files: [{ path: '/etc/ironplane/./provider-id', content: 'x' }] }, field: 'files[0].path', message: 'must be a normalised absolute path' },
      { what: 'a path with //', spec: { files: [{ path: '//etc/kubernetes/ironplane/a', content: 'x' }] }, field: 'files[0].path', message: 'must be a normalised absolute path' },
      { what: 'a path ending in ..', spec: { files: [{ path: '/etc/kubernetes/ironplane/a/..', content: 'x' }] }, field: 'files[0].path', message: 'must be a normalised absolute path' },
      { what: 'the reserved directory', spec: { files: [{ path: '/etc/kubernetes/ironplane/kubeadm-join.yaml', content: 'x' }] }, field: 'files[0].path', message: '/etc/kubernetes/ironplane/ and /etc/ironplane/provider-id are written by Ironplane' },
      { what: 'the providerID file', spec: { files: [{ path: '/etc/ironplane/provider-id', content: 'x' }] }, field: 'files[0].path', message: 'are written by Ironplane' },
      { what: 'a file where a reserved directory goes', spec: { files: [{ path: '/etc/kubernetes', content: 'x' }] }, field: 'files[0].path', message: 'nor can a file replace a directory above them' },
      { what: 'a relative path', spec: { files: [{ path: 'etc/motd', content: 'x' }] }, field: 'files[0].path', message: 'should match' },
      { what: 'a path with a newline', spec: { files: [{ path: '/etc/motd\n/etc/ironplane/provider-id', content: 'x' }] }, field: 'files[0].path', message: 'should match' },
      { what: 'a path with NUL', spec: { files: [{ path: '/etc/motd\u0000.d', content: 'x' }] }, field: 'files[0].path', message: 'should match' },
      { what: 'an install device outside /dev', spec: { install: { device: '/dev/../etc/passwd' } }, field: 'install.device', message: 'must be a normalised /dev path' },
      { what: 'a shell path through ..', spec: { users: [{ name: 'ops', shell: '/bin/../tmp/sh' }] }, field: 'users[0].shell', message: 'must be a normalised absolute path' },
      { what: 'an SSH key with a line break', spec: { users: [{ name: 'ops', sshAuthorizedKeys: ['ssh-ed25519 AAAA\r\nssh-rsa BBBB'] }] }, field: 'users[0].sshAuthorizedKeys[0]', message: 'should match' },
      { what: 'a node label key that is no label key', spec: { nodeLabels: { 'bad key': 'x' } }, field: 'nodeLabels', message: 'node label keys must be qualified names' },
      { what: 'a node label value that is no label value', spec: { nodeLabels: { tier: 'not valid!' } }, field: 'nodeLabels.tier', message: 'should match' },
      { what: 'a kubelet flag value with a newline', spec: { kubelet: { extraArgs: [{ name: 'max-pods', value: '200\n--provider-id=x' }] } }, field: 'kubelet.extraArgs[0].value', message: 'should match' },
      { what: 'a kubelet flag Ironplane sets', spec: { kubelet: { extraArgs: [{ name: 'provider-id', value: 'x' }] } }, field: 'kubelet.extraArgs[0]', message: 'this kubelet flag is set by Ironplane or kubeadm' },
    ],
  },
};

describe.each(Object.entries(KINDS))('%s', (kind, k) => {
  it(`should have at least 10 refusal cases for ${kind} and for its template`, () => {
    expect(k.bad.length + (k.kindOnly?.length ?? 0)).toBeGreaterThanOrEqual(10);
    expect(k.bad.length).toBeGreaterThanOrEqual(10);
  });

  it('given valid objects, should admit them (and so should the generated validator)', async () => {
    for (const spec of k.valid) {
      const o = { ...obj(spec), apiVersion: `${k.rt.group}/${k.rt.version}`, kind };
      expect(k.validate(o), formatErrors(k.validate.errors).join('; ')).toBe(true);
      await client.create(k.rt, o);
      const t = { ...obj(templated(spec)), apiVersion: `${k.template.group}/${k.template.version}`, kind: `${kind}Template` };
      expect(k.validateTemplate(t), formatErrors(k.validateTemplate.errors).join('; ')).toBe(true);
      await client.create(k.template, t);
    }
  });

  it.each([...k.bad, ...(k.kindOnly ?? [])].map((b) => [b.what, b] as const))(`given %s, should refuse the ${kind} with 422 naming the field`, async (_what, b) => {
    expectFieldError(await refusal(k.rt, obj(b.spec)), `spec.${b.field}`, b.message);
  });

  it.each(k.bad.map((b) => [b.what, b] as const))(`given %s in spec.template.spec, should refuse the ${kind}Template with 422 naming the field`, async (_what, b) => {
    expectFieldError(await refusal(k.template, obj(templated(b.spec))), `spec.template.spec.${b.field}`, b.message);
  });

  it(`given no spec at all, should refuse the ${kind}Template`, async () => {
    expectFieldError(await refusal(k.template, obj(undefined)), 'spec', 'spec is required');
  });
});

describe('kinds whose spec is required', () => {
  it.each(['KvmCluster', 'KvmMachine', 'MetalCluster', 'MetalMachine'])('given a %s without spec, should refuse it', async (kind) => {
    expectFieldError(await refusal(KINDS[kind]!.rt, obj(undefined)), 'spec', 'spec is required');
  });
});

describe('set-once fields', () => {
  const SET_ONCE = 'controlPlaneEndpoint cannot change once set: nodes have joined that address';

  it.each([
    ['KvmCluster', net({ nodeCIDR: '10.10.0.0/24' })],
    ['MetalCluster', {}],
  ] as const)('given a %s, should let the endpoint be set once (and re-applied unchanged, as Kamaji does), then refuse a change or removal', async (kind, spec) => {
    const rt = KINDS[kind]!.rt;
    const name = (await client.create<Obj>(rt, obj(spec))).metadata!.name!;
    await client.mergePatch(rt, name, NS, { spec: { controlPlaneEndpoint: { host: '10.20.0.5', port: 6443 } } });
    await client.mergePatch(rt, name, NS, { spec: { controlPlaneEndpoint: { host: '10.20.0.5', port: 6443 } } });
    expectFieldError(await patchRefusal(rt, name, { spec: { controlPlaneEndpoint: { host: '10.20.0.6' } } }), 'spec.controlPlaneEndpoint', SET_ONCE);
    expectFieldError(await patchRefusal(rt, name, { spec: { controlPlaneEndpoint: { port: 443 } } }), 'spec.controlPlaneEndpoint', SET_ONCE);
    expectFieldError(await patchRefusal(rt, name, { spec: { controlPlaneEndpoint: null } }), 'spec.controlPlaneEndpoint', SET_ONCE);
    expectFieldError(await patchRefusal(rt, name, { spec: null }), 'spec', 'spec is required');
    expect((await client.get<Obj>(rt, name, NS)).spec?.['controlPlaneEndpoint']).toEqual({ host: '10.20.0.5', port: 6443 });
  });

  it('given an endpoint host set without a port, should let the port be added once', async () => {
    const rt = KINDS['MetalCluster']!.rt;
    const name = (await client.create<Obj>(rt, obj(ep({ host: 'vip.example.com' })))).metadata!.name!;
    await client.mergePatch(rt, name, NS, { spec: { controlPlaneEndpoint: { port: 6443 } } });
    expectFieldError(await patchRefusal(rt, name, { spec: { controlPlaneEndpoint: { port: 6444 } } }), 'spec.controlPlaneEndpoint', SET_ONCE);
  });

  it.each([
    ['KvmMachine', vm({}), 'kubevirt://crd/a', 'kubevirt://crd/b'],
    ['MetalMachine', bm({}), 'metal3://pool/host-0/m', 'metal3://pool/host-1/m'],
  ] as const)('given a %s, should let the controller set providerID once, then refuse a change or removal', async (kind, spec, first, second) => {
    const rt = KINDS[kind]!.rt;
    const name = (await client.create<Obj>(rt, obj(spec))).metadata!.name!;
    await client.mergePatch(rt, name, NS, { spec: { providerID: first } });
    await client.mergePatch(rt, name, NS, { spec: { providerID: first } });
    expectFieldError(await patchRefusal(rt, name, { spec: { providerID: second } }), 'spec.providerID', 'providerID is immutable once set');
    expectFieldError(await patchRefusal(rt, name, { spec: { providerID: null } }), 'spec.providerID', 'providerID is immutable once set');
    expect((await client.get<Obj>(rt, name, NS)).spec?.['providerID']).toBe(first);
  });

  it("given a KvmCluster, should refuse a change of nodeCIDR", async () => {
    const rt = KINDS['KvmCluster']!.rt;
    const name = (await client.create<Obj>(rt, obj(net({ nodeCIDR: '10.30.0.0/24' })))).metadata!.name!;
    expectFieldError(await patchRefusal(rt, name, { spec: { network: { nodeCIDR: '10.31.0.0/24' } } }), 'spec.network.nodeCIDR', 'network.nodeCIDR is immutable');
  });

  it('given a template, should accept a changed spec on a dry-run (no transition rules in templates)', async () => {
    const rt = KINDS['MetalMachine']!.template;
    const name = (await client.create<Obj>(rt, obj(templated(bm({}))))).metadata!.name!;
    const current = await client.get<Obj>(rt, name, NS);
    const changed = { ...current, spec: templated({ image: { url: `${OCI_IMAGE}-next` } }) };
    const dry = await client.replace<Obj>(rt, changed, { dryRun: true });
    expect((dry.spec?.['template'] as { spec: Spec }).spec['image']).toEqual({ url: `${OCI_IMAGE}-next` });
  });
});

describe('what ships', () => {
  const ours = new Map(Object.entries(KINDS).flatMap(([kind, k]) => [[kind, k.rt], [`${kind}Template`, k.template]] as const));
  const docs = fs
    .readdirSync(path.join(REPO, 'clusterclasses'))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(REPO, 'clusterclasses', f), 'utf8')).map((d) => ({ f, o: d.toJS() as Obj | null })))
    .filter((d): d is { f: string; o: Obj } => d.o !== null && ours.has(d.o.kind ?? ''));

  it('should find our templates in clusterclasses/', () => {
    expect(new Set(docs.map((d) => d.o.kind))).toEqual(new Set(['KvmClusterTemplate', 'KvmMachineTemplate', 'KairosConfigTemplate', 'MetalClusterTemplate', 'MetalMachineTemplate']));
  });

  it('given each of our objects in clusterclasses/, should pass a strict server-side dry-run', async () => {
    for (const { f, o } of docs) {
      const rt = ours.get(o.kind!)!;
      await expect(client.create(rt, { ...o, metadata: { ...o.metadata, namespace: NS } }, { dryRun: true, fieldValidation: 'Strict' }), `${f} ${o.kind}/${o.metadata?.name}`).resolves.toBeDefined();
    }
  });
});
