import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import type { KairosConfigSpec } from '../api/generated/ironplane/v1alpha1/kairosconfig.js';
import { PROVIDER_ID_FILE, renderUserData } from '../capi/userdata.js';
import { joinConfigurationProblems } from './joinschema.js';
import { NODE_PATHS } from './names.js';
import { createRenderer, endpointString, JOIN_GUARD, nodeNameFor, RenderError, yamlBlock, yamlMode, yamlScalar, type RenderInput } from './render.js';
import { caCertHashes } from './token.js';
import { MAX_DATA_BYTES } from './validate.js';

const GOLDEN = path.join(import.meta.dirname, 'testdata');
const render = createRenderer();

interface Step {
  name?: string;
  if?: string;
  files?: { path: string; permissions: number; owner: number; group: number; content: string; encoding?: string }[];
  commands?: string[];
  hostname?: string;
  timesyncd?: Record<string, string>;
}
interface Parsed {
  install: Record<string, unknown>;
  users?: Record<string, unknown>[];
  stages: Record<string, Step[]>;
}

/** Parses as Kairos (yip) does: YAML 1.1, where 0600 would be octal. */
const kairosParse = (text: string) => parse(text, { version: '1.1' }) as Parsed;

/** The JoinConfiguration file of the join step. */
function joinOf(text: string): Record<string, unknown> {
  const step = kairosParse(text).stages['network']!.find((s) => s.name === 'ironplane: kubeadm join')!;
  return parse(step.files!.find((f) => f.path === NODE_PATHS.joinConfig)!.content) as Record<string, unknown>;
}

/**
 * Compares with testdata/<name>.golden.yaml (UPDATE_GOLDEN=1 rewrites it),
 * after the checks every rendering must pass: #cloud-config first, YAML that
 * parses, a JoinConfiguration valid for kubeadm.k8s.io/v1beta4.
 */
function golden(name: string, text: string): void {
  expect(text.split('\n', 1)[0]).toBe('#cloud-config');
  expect(parseDocument(text).errors).toEqual([]);
  expect(joinConfigurationProblems(joinOf(text))).toEqual([]);
  const file = path.join(GOLDEN, `${name}.golden.yaml`);
  if (process.env['UPDATE_GOLDEN']) fs.writeFileSync(file, text);
  expect(text).toBe(fs.readFileSync(file, 'utf8'));
}

const TOKEN = 'abcdef.0123456789abcdef';
/** A fixed tenant CA certificate, so the private-endpoint golden is stable. */
const CA_PEM = fs.readFileSync(path.join(GOLDEN, 'tenant-ca.crt'), 'utf8');
/** The tenant's control plane inside the worker's VPC (adr/0014). */
const PRIVATE = { endpoint: { host: '198.18.0.1', port: 6443 }, discoveryCA: CA_PEM, caCertHashes: caCertHashes(CA_PEM) };
const PIN = 'sha256:6e0de1b2b3a0a0b6e9c4bcd1c5bb1e7d8a4f5a1b7c2d6e3f9a8b7c6d5e4f3a2b';

function input(spec: KairosConfigSpec, over: Partial<RenderInput> = {}): RenderInput {
  return {
    namespace: 'team-a',
    config: 'alpha-md-0-x7k2p',
    cluster: 'alpha',
    machine: 'alpha-md-0-x7k2p',
    infraMachine: 'alpha-md-0-x7k2p',
    spec,
    files: [],
    endpoint: { host: 'alpha.tenants.example.com', port: 6443 },
    token: TOKEN,
    caCertHashes: [PIN],
    ...over,
  };
}

const full: KairosConfigSpec = {
  install: { device: '/dev/vda', auto: true, reboot: true },
  hostname: { policy: 'MachineName' },
  users: [
    { name: 'ops', groups: ['admin'], shell: '/bin/bash', lockPassword: true, sshAuthorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3bNQ7dQyS8H0a ops@example.com', 'github:octocat'] },
    { name: 'break-glass', passwordHash: '$6$rounds=4096$saltsalt$Z5b2pQ0q0G1x2Y3z4A5b6C7d8E9f0G1h2I3j4K5l6M7n8O9p0Q1r2S3t4U5v6W7x8Y9z0A1b2C3d4E5f6G7h8I9' },
  ],
  ntp: { servers: ['0.pool.ntp.org', '1.pool.ntp.org'], fallbackServers: ['time.cloudflare.com'] },
  nodeLabels: { 'node.kubernetes.io/pool': 'md-0', 'example.com/tier': 'gold' },
  taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }, { key: 'example.com/drain', effect: 'PreferNoSchedule' }],
  kubelet: { extraArgs: [{ name: 'max-pods', value: '150' }, { name: 'system-reserved', value: 'cpu=500m,memory=1Gi' }] },
  preJoinCommands: ['modprobe ip_vs', 'echo "pre-join: $(hostname)" > /dev/kmsg'],
  postJoinCommands: ['echo joined > /etc/kubernetes/ironplane-joined'],
  join: { tokenTTL: '15m', ignorePreflightErrors: ['Swap'] },
  extraConfig: ['stages:', '  network:', '    - name: site motd', '      files:', '        - path: /etc/motd', '          content: "Welcome to alpha"', '  reconcile:', '    - commands: [sync]', 'install:', '  grub_options:', '    extra_cmdline: panic=0', ''].join('\n'),
};
const fullFiles = [
  { path: '/etc/containerd/certs.d/docker.io/hosts.toml', permissions: '0644', owner: 0, group: 0, content: 'server = "https://registry-1.docker.io"\n\n[host."https://mirror.example.com"]\n  capabilities = ["pull", "resolve"]\n' },
  { path: '/etc/ssl/private/site.key', permissions: '0600', owner: 0, group: 0, base64: Buffer.from('-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n').toString('base64') },
];

describe('render: golden cloud-configs', () => {
  it('given an empty spec, should render the defaults: install on auto, hostname from the Machine, kubeadm join in the network stage', () => {
    golden('minimal', render(input({})).value);
  });

  it('given every field, should render users, NTP, files, labels, taints, kubelet args, commands, and merge extraConfig last', () => {
    golden('full', render(input(full, { files: fullFiles })).value);
  });

  it('given hostname policy System, poweroff, an IPv6 endpoint and a CA bundle, should leave the name to the OS and pin every CA', () => {
    golden(
      'system-hostname-ipv6',
      render(input({ hostname: { policy: 'System' }, install: { poweroff: true } }, { endpoint: { host: 'fd00:10::5', port: 443 }, caCertHashes: [PIN, `sha256:${'0'.repeat(64)}`] })).value,
    );
  });

  it('given a private control-plane endpoint, should join through a discovery kubeconfig for it (kubeadm file discovery)', () => {
    golden('private-endpoint', render(input({}, PRIVATE)).value);
  });
});

describe('render: what the node runs', () => {
  it('should join once, on the installed system, with the JoinConfiguration it writes first', () => {
    const step = kairosParse(render(input({})).value).stages['network']![0]!;
    expect(step.if).toBe(JOIN_GUARD);
    expect(step.if).toBe('[ ! -e /etc/kubernetes/kubelet.conf ] && [ ! -e /run/cos/live_mode ] && [ ! -e /run/cos/recovery_mode ]');
    expect(step.files).toEqual([expect.objectContaining({ path: NODE_PATHS.joinConfig, permissions: 0o600, owner: 0, group: 0 })]);
    const script = step.commands!.join('\n');
    expect(script).toMatch(/^set -e\n/);
    expect(script).toContain(`kubeadm join --config ${NODE_PATHS.joinConfig}\nrm -f ${NODE_PATHS.joinConfig}\n`);
  });

  it('given a private endpoint, should write the discovery kubeconfig (server, CA, no credentials) after the JoinConfiguration in the join step, and discover through it', () => {
    const step = kairosParse(render(input({}, PRIVATE)).value).stages['network']![0]!;
    expect(step.if).toBe(JOIN_GUARD);
    expect(step.files!.map((f) => [f.path, f.permissions, f.owner, f.group])).toEqual([
      [NODE_PATHS.joinConfig, 0o600, 0, 0],
      [NODE_PATHS.discoveryKubeconfig, 0o600, 0, 0],
    ]);
    expect(NODE_PATHS.discoveryKubeconfig).toBe('/etc/kubernetes/ironplane-discovery.conf');
    expect(parse(step.files![1]!.content)).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'kubernetes', cluster: { server: 'https://198.18.0.1:6443', 'certificate-authority-data': Buffer.from(CA_PEM).toString('base64') } }],
      users: [{ name: 'kubernetes', user: {} }],
      contexts: [{ name: 'kubernetes', context: { cluster: 'kubernetes', user: 'kubernetes' } }],
      'current-context': 'kubernetes',
    });
    expect(joinOf(render(input({}, PRIVATE)).value)['discovery']).toEqual({ file: { kubeConfigPath: NODE_PATHS.discoveryKubeconfig }, tlsBootstrapToken: TOKEN });
    // The join script is the same: kubeadm finds the file through the JoinConfiguration.
    expect(step.commands).toEqual(kairosParse(render(input({})).value).stages['network']![0]!.commands);
  });

  it('given a private IPv6 endpoint, should bracket it in the discovery server', () => {
    const step = kairosParse(render(input({}, { ...PRIVATE, endpoint: { host: 'fd00:18::1', port: 6443 } })).value).stages['network']![0]!;
    expect((parse(step.files![1]!.content) as { clusters: { cluster: { server: string } }[] }).clusters[0]!.cluster.server).toBe('https://[fd00:18::1]:6443');
  });

  it('given no private endpoint, should discover with the bootstrap token and its CA pins, and write no discovery file', () => {
    const step = kairosParse(render(input({})).value).stages['network']![0]!;
    expect(step.files!.map((f) => f.path)).toEqual([NODE_PATHS.joinConfig]);
    expect(joinOf(render(input({})).value)['discovery']).toEqual({ bootstrapToken: { apiServerEndpoint: 'alpha.tenants.example.com:6443', token: TOKEN, caCertHashes: [PIN] } });
  });

  it('should pass the providerID file to kubelet through a KubeletConfiguration patch in the JoinConfiguration patches directory', () => {
    const text = render(input({})).value;
    expect(joinOf(text)['patches']).toEqual({ directory: NODE_PATHS.patchesDir });
    const script = kairosParse(text).stages['network']![0]!.commands![0]!;
    expect(script).toContain(`if [ -s ${PROVIDER_ID_FILE} ]; then\n  printf 'providerID: "%s"\\n' "$(tr -d '[:space:]' < ${PROVIDER_ID_FILE})" > ${NODE_PATHS.providerIDPatch}\n`);
    expect(NODE_PATHS.providerIDPatch.startsWith(`${NODE_PATHS.patchesDir}/kubeletconfiguration`)).toBe(true);
  });

  it('should run preJoinCommands before and postJoinCommands after kubeadm join, in order', () => {
    const script = kairosParse(render(input(full, { files: fullFiles })).value).stages['network']![0]!.commands![0]!;
    const at = (s: string) => script.indexOf(s);
    expect(at('modprobe ip_vs')).toBeGreaterThan(0);
    expect(at('modprobe ip_vs')).toBeLessThan(at('echo "pre-join'));
    expect(at('echo "pre-join')).toBeLessThan(at('kubeadm join'));
    expect(at('kubeadm join')).toBeLessThan(at('echo joined'));
  });

  it('should put labels in --node-labels (sorted) before the extra kubelet args, and taints and preflight exceptions in nodeRegistration', () => {
    expect(joinOf(render(input(full, { files: fullFiles })).value)['nodeRegistration']).toEqual({
      name: 'alpha-md-0-x7k2p',
      kubeletExtraArgs: [
        { name: 'node-labels', value: 'example.com/tier=gold,node.kubernetes.io/pool=md-0' },
        { name: 'max-pods', value: '150' },
        { name: 'system-reserved', value: 'cpu=500m,memory=1Gi' },
      ],
      taints: [
        { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
        { key: 'example.com/drain', effect: 'PreferNoSchedule' },
      ],
      ignorePreflightErrors: ['Swap'],
    });
  });

  it('should write file modes as yip reads them, and survive the infrastructure provider adding the providerID file', () => {
    const text = render(input(full, { files: fullFiles })).value;
    const userdata = renderUserData({ value: text }, 'kubevirt://team-a/alpha-md-0-x7k2p');
    for (const t of [text, userdata]) {
      const files = kairosParse(t).stages['boot']!.find((s) => s.name === 'ironplane: files')!.files!;
      expect(files.map((f) => f.permissions)).toEqual([0o644, 0o600]);
      expect(kairosParse(t).stages['network']![0]!.files![0]!.permissions).toBe(0o600);
    }
    const parsed = parse(userdata) as { write_files: { path: string; content: string }[] };
    expect(parsed.write_files).toContainEqual(expect.objectContaining({ path: PROVIDER_ID_FILE, content: 'kubevirt://team-a/alpha-md-0-x7k2p' }));
    expect(joinOf(userdata)).toEqual(joinOf(text));
  });

  it('should carry file contents exactly, whatever YAML or shell syntax they hold', () => {
    const nasty = 'key: value\n- item\n"quoted" \'single\' # not a comment\n---\n...\n{{ .Values.node.hostname }}\n\n\n';
    const files = [
      { path: '/etc/a', permissions: '0644', owner: 1000, group: 100, content: nasty },
      { path: '/etc/b', permissions: '644', owner: 0, group: 0, content: '  leading spaces\nand\ttabs' },
      { path: '/etc/c', permissions: '0640', owner: 0, group: 0, content: 'no trailing newline' },
      { path: '/etc/d', permissions: '0644', owner: 0, group: 0, content: 'carriage\r\nreturn' },
    ];
    const commands = ['echo "a: b" # c', 'cat <<EOF\n- x\nEOF'];
    const out = kairosParse(render(input({ preJoinCommands: commands }, { files })).value);
    const written = out.stages['boot']!.find((s) => s.name === 'ironplane: files')!.files!;
    expect(written.map((f) => [f.path, f.content, f.permissions, f.owner, f.group])).toEqual([
      ['/etc/a', nasty, 0o644, 1000, 100],
      ['/etc/b', '  leading spaces\nand\ttabs', 0o644, 0, 0],
      ['/etc/c', 'no trailing newline', 0o640, 0, 0],
      ['/etc/d', 'carriage\r\nreturn', 0o644, 0, 0],
    ]);
    expect(out.stages['network']![0]!.commands![0]).toContain('echo "a: b" # c\ncat <<EOF\n- x\nEOF\n');
  });

  it('should be deterministic: the same input renders the same bytes', () => {
    expect(render(input(full, { files: fullFiles })).value).toBe(render(input(full, { files: fullFiles })).value);
  });

  it('should append extraConfig stages after ours and merge its install keys', () => {
    const out = kairosParse(render(input(full, { files: fullFiles })).value);
    expect(out.stages['network']!.map((s) => s.name)).toEqual(['ironplane: kubeadm join', 'site motd']);
    expect(out.stages['reconcile']).toEqual([{ commands: ['sync'] }]);
    expect(out.install).toEqual({ device: '/dev/vda', auto: true, reboot: true, grub_options: { extra_cmdline: 'panic=0' } });
  });

  it('given bootstrap data over the datasource limit, should refuse it with the sizes', () => {
    const big = [{ path: '/opt/big', permissions: '0644', owner: 0, group: 0, content: 'x'.repeat(MAX_DATA_BYTES) }];
    let err: unknown;
    try {
      render(input({}, { files: big }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RenderError);
    expect((err as RenderError).reason).toBe('DataSecretTooLarge');
    expect((err as RenderError).message).toMatch(/^bootstrap data is \d+ bytes, over the 64512-byte limit for the target datasource \(64 KiB of cloud-init user data on a config drive, less 1 KiB for the infrastructure provider\)/);
  });

  it('given an invalid extraConfig, should refuse to render it', () => {
    expect(() => render(input({ extraConfig: 'k3s:\n  enabled: true\n' }))).toThrow('spec.extraConfig.k3s: selects another Kubernetes distribution');
  });
});

describe('render: names and scalars', () => {
  it('should name the node after the Machine, the infrastructure machine, or leave it to the OS', () => {
    expect(nodeNameFor({ machine: 'm-1', infraMachine: 'kvm-1', spec: {} })).toBe('m-1');
    expect(nodeNameFor({ machine: 'm-1', infraMachine: 'kvm-1', spec: { hostname: { policy: 'InfraMachineName' } } })).toBe('kvm-1');
    expect(nodeNameFor({ machine: 'm-1', spec: { hostname: { policy: 'System' } } })).toBeUndefined();
    const long = nodeNameFor({ machine: 'm'.repeat(100), spec: {} })!;
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).not.toBe(nodeNameFor({ machine: `${'m'.repeat(99)}n`, spec: {} }));
  });

  it('should write endpoints as kubeadm reads them, IPv6 in brackets', () => {
    expect(endpointString({ host: '10.0.0.1', port: 6443 })).toBe('10.0.0.1:6443');
    expect(endpointString({ host: 'fd00::1', port: 443 })).toBe('[fd00::1]:443');
  });

  it('should quote scalars only where YAML needs it, and refuse multi-line text', () => {
    expect(yamlScalar('plain')).toBe('plain');
    expect(yamlScalar('true')).toBe('"true"');
    expect(yamlScalar('150')).toBe('"150"');
    expect(yamlScalar('a: b')).toBe('"a: b"');
    expect(yamlScalar('[ x ]')).toBe('"[ x ]"');
    expect(() => yamlScalar('a\nb')).toThrow('q needs a single line');
  });

  it('should choose block chomping from trailing newlines and fall back to a quoted string', () => {
    expect(yamlBlock('a\nb\n', 2)).toBe('|\n  a\n  b');
    expect(yamlBlock('a\nb', 2)).toBe('|-\n  a\n  b');
    expect(yamlBlock('a\n\n', 2)).toBe('|+\n  a\n');
    expect(yamlBlock(' lead', 2)).toBe('" lead"');
    expect(yamlBlock('', 2)).toBe('""');
    for (const t of ['a\nb\n', 'a\nb', 'a\n\n\n', 'x\n\n y\n']) expect(parse(`k: ${yamlBlock(t, 2)}\n`)).toEqual({ k: t });
  });

  it('should turn octal modes into the decimal integers yip reads, and refuse others', () => {
    expect(yamlMode('0600')).toBe('384 # 0600');
    expect(yamlMode('755')).toBe('493 # 0755');
    expect(() => yamlMode('0800')).toThrow('invalid file mode "0800"');
  });
});
