import { describe, expect, it } from 'vitest';
import { joinConfigurationProblems } from './joinschema.js';
import { kubernetesVersionProblem, nodePathProblem, normalisePath, parseExtraConfig, specProblems } from './validate.js';
import { validateKairosConfig, validateKairosConfigTemplate } from './webhooks.js';
import type { AdmissionRequest } from '../kit/admission.js';

const problems = (text: string) => parseExtraConfig(text).problems;

describe('extraConfig validation', () => {
  it('given known Kairos keys and yip steps, should accept them', () => {
    expect(
      problems(
        'stages:\n  network.after:\n    - name: x\n      if: "[ -e /a ]"\n      commands: [echo]\n      files:\n        - path: /etc/motd\n          content: hi\ninstall:\n  grub_options: {}\nwrite_files:\n  - path: /etc/x\n    content: y\nruncmd: [date]\ndebug: true\n',
      ),
    ).toEqual([]);
    expect(problems('')).toEqual([]);
    expect(problems('# only a comment\n')).toEqual([]);
  });

  it('given text that is not YAML, should say where', () => {
    expect(problems('stages:\n  boot: [\n')).toEqual([expect.stringMatching(/^spec\.extraConfig: not valid YAML \(line \d+, column \d+\): /)]);
    expect(problems('a: 1\na: 2\n')).toEqual([expect.stringMatching(/^spec\.extraConfig: not valid YAML .*Map keys must be unique/)]);
  });

  it('given a list or a scalar, should ask for a mapping', () => {
    expect(problems('- a\n')).toEqual(['spec.extraConfig: must be a YAML mapping of Kairos cloud-config keys']);
  });

  it('given an unknown top-level key, should name its path and the known keys', () => {
    expect(problems('stage:\n  boot: []\n')).toEqual([expect.stringMatching(/^spec\.extraConfig\.stage: unknown key \(known: stages, name, install, /)]);
  });

  it('given an unknown step key, should name the stage, step and key', () => {
    expect(problems('stages:\n  network:\n    - name: ok\n    - comands: [echo]\n')).toEqual([expect.stringMatching(/^spec\.extraConfig\.stages\.network\[1\]\.comands: unknown step key \(known: name, if, /)]);
  });

  it('given keys that typed fields own, should point at the field', () => {
    expect(problems('users: []\nhostname: x\ninstall:\n  device: /dev/sdb\n  reboot: false\n')).toEqual([
      'spec.extraConfig.users: set by spec.users, not extraConfig',
      'spec.extraConfig.hostname: set by spec.hostname.policy, not extraConfig',
      'spec.extraConfig.install.device: set by spec.install.device, not extraConfig',
      'spec.extraConfig.install.reboot: set by spec.install.reboot, not extraConfig',
    ]);
  });

  it('given another Kubernetes distribution, should refuse it', () => {
    expect(problems('k3s:\n  enabled: true\np2p: {}\n')).toEqual([
      'spec.extraConfig.k3s: selects another Kubernetes distribution or cluster provider; this node joins its cluster with kubeadm',
      'spec.extraConfig.p2p: selects another Kubernetes distribution or cluster provider; this node joins its cluster with kubeadm',
    ]);
  });

  it('given files that overwrite the join or the providerID, should refuse them', () => {
    expect(problems('write_files:\n  - path: /etc/ironplane/provider-id\n    content: x\nstages:\n  boot:\n    - files:\n        - path: /etc/kubernetes/ironplane/kubeadm-join.yaml\n')).toEqual([
      'spec.extraConfig.write_files[0].path: /etc/ironplane/provider-id is written by Ironplane (/etc/kubernetes/ironplane/, /etc/ironplane/provider-id)',
      'spec.extraConfig.stages.boot[0].files[0].path: /etc/kubernetes/ironplane/kubeadm-join.yaml is written by Ironplane (/etc/kubernetes/ironplane/, /etc/ironplane/provider-id)',
    ]);
  });

  it('given wrongly shaped stages and commands, should say what shape is expected', () => {
    expect(problems('stages:\n  boot: {}\n  network:\n    - commands: echo\n    - 3\nruncmd: date\n')).toEqual([
      'spec.extraConfig.stages.boot: must be a list of steps',
      'spec.extraConfig.stages.network[0].commands: must be a list of strings',
      'spec.extraConfig.stages.network[1]: a step must be a mapping',
      'spec.extraConfig.runcmd: must be a list of strings',
    ]);
  });

  it('specProblems should name the path it is given (a template spec)', () => {
    expect(specProblems({ extraConfig: 'bogus: 1\n' }, 'spec.template.spec')).toEqual([expect.stringMatching(/^spec\.template\.spec\.extraConfig\.bogus: unknown key/)]);
    expect(specProblems({})).toEqual([]);
  });
});

describe('node paths a user asks to write', () => {
  const RESERVED = '(/etc/kubernetes/ironplane/, /etc/ironplane/provider-id)';

  it('should normalise ".", "..", repeated and trailing slashes as the node resolves them', () => {
    expect(normalisePath('/etc/kubernetes/x/../ironplane/join.yaml')).toBe('/etc/kubernetes/ironplane/join.yaml');
    expect(normalisePath('/etc/ironplane/./provider-id')).toBe('/etc/ironplane/provider-id');
    expect(normalisePath('//etc//kubernetes///ironplane/a')).toBe('/etc/kubernetes/ironplane/a');
    expect(normalisePath('/../../etc/ironplane/provider-id/')).toBe('/etc/ironplane/provider-id');
    expect(normalisePath('/')).toBe('/');
    expect(normalisePath('/..')).toBe('/');
  });

  it.each([
    ['/etc/kubernetes/x/../ironplane/join.yaml', '/etc/kubernetes/ironplane/join.yaml'],
    ['/etc/ironplane/./provider-id', '/etc/ironplane/provider-id'],
    ['//etc/kubernetes/ironplane/kubeadm-join.yaml', '/etc/kubernetes/ironplane/kubeadm-join.yaml'],
    ['/etc/kubernetes/ironplane/patches/../kubeadm-join.yaml', '/etc/kubernetes/ironplane/kubeadm-join.yaml'],
    ['/tmp/../etc/ironplane/provider-id', '/etc/ironplane/provider-id'],
    ['/etc/ironplane/provider-id/', '/etc/ironplane/provider-id'],
    ['/etc/kubernetes/ironplane', '/etc/kubernetes/ironplane'],
    ['/etc/ironplane/provider-id/x', '/etc/ironplane/provider-id/x'],
  ])('given %s, should refuse it as the reserved path it resolves to', (p, norm) => {
    expect(nodePathProblem(p)).toBe(`${p === norm ? p : `${p} (that is ${norm})`} is written by Ironplane ${RESERVED}`);
  });

  it('given a file where a reserved path needs a directory, should refuse it; a directory there is fine', () => {
    for (const p of ['/etc/ironplane', '/etc/kubernetes', '/etc', '/', '/etc/kubernetes/']) {
      expect(nodePathProblem(p, 'file')).toMatch(/is a directory holding what Ironplane writes/);
      expect(nodePathProblem(p, 'directory')).toBeUndefined();
    }
    expect(nodePathProblem('/etc/kubernetes/ironplane', 'directory')).toMatch(/is written by Ironplane/);
  });

  it('should compare on segment boundaries, not string prefixes', () => {
    for (const p of ['/etc/kubernetes/ironplane2/a', '/etc/kubernetes/ironplane-extra', '/etc/ironplane/provider-id.bak', '/etc/ironplane/other', '/etc/kubernetes/pki/ca.crt', '/etc/kubernetes/x/../manifests/a.yaml']) {
      expect(nodePathProblem(p), p).toBeUndefined();
    }
  });

  it('should refuse relative paths, empty paths, non-strings and control characters', () => {
    expect(nodePathProblem('etc/ironplane/provider-id')).toBe('"etc/ironplane/provider-id" must be an absolute path');
    expect(nodePathProblem('./a')).toBe('"./a" must be an absolute path');
    expect(nodePathProblem('')).toBe('must be an absolute path');
    expect(nodePathProblem(7)).toBe('must be an absolute path');
    expect(nodePathProblem('/etc/motd\u0000')).toBe('must not contain control characters (NUL, newline, ...)');
    expect(nodePathProblem('/etc/motd\n/etc/ironplane/provider-id')).toBe('must not contain control characters (NUL, newline, ...)');
  });

  it('given extraConfig paths that resolve to reserved ones, in write_files and every step key that writes, should refuse each', () => {
    const text = [
      'write_files:',
      '  - path: /etc/kubernetes/x/../ironplane/join.yaml',
      '  - path: //etc/kubernetes/ironplane/a',
      '  - path: relative/file',
      'stages:',
      '  boot:',
      '    - files:',
      '        - path: /etc/ironplane/./provider-id',
      '      downloads:',
      '        - path: /etc/ironplane/provider-id',
      '          url: https://example.com/x',
      '      directories:',
      '        - path: /etc/kubernetes/ironplane/../ironplane',
      '        - path: /etc/ironplane',
      '      unpack_images:',
      '        - source: quay.io/a/b:c',
      '          target: /etc/kubernetes/ironplane',
      '      environment_file: /etc/ironplane/provider-id',
      '      git:',
      '        url: https://example.com/r.git',
      '        path: /etc/kubernetes/ironplane/repo',
      '      dns:',
      '        path: /etc/kubernetes/ironplane/resolv.conf',
      '',
    ].join('\n');
    expect(problems(text)).toEqual([
      `spec.extraConfig.write_files[0].path: /etc/kubernetes/x/../ironplane/join.yaml (that is /etc/kubernetes/ironplane/join.yaml) is written by Ironplane ${RESERVED}`,
      `spec.extraConfig.write_files[1].path: //etc/kubernetes/ironplane/a (that is /etc/kubernetes/ironplane/a) is written by Ironplane ${RESERVED}`,
      'spec.extraConfig.write_files[2].path: "relative/file" must be an absolute path',
      `spec.extraConfig.stages.boot[0].files[0].path: /etc/ironplane/./provider-id (that is /etc/ironplane/provider-id) is written by Ironplane ${RESERVED}`,
      `spec.extraConfig.stages.boot[0].downloads[0].path: /etc/ironplane/provider-id is written by Ironplane ${RESERVED}`,
      `spec.extraConfig.stages.boot[0].directories[0].path: /etc/kubernetes/ironplane/../ironplane (that is /etc/kubernetes/ironplane) is written by Ironplane ${RESERVED}`,
      `spec.extraConfig.stages.boot[0].unpack_images[0].target: /etc/kubernetes/ironplane is written by Ironplane ${RESERVED}`,
      `spec.extraConfig.stages.boot[0].environment_file: /etc/ironplane/provider-id is written by Ironplane ${RESERVED}`,
      `spec.extraConfig.stages.boot[0].git.path: /etc/kubernetes/ironplane/repo is written by Ironplane ${RESERVED}`,
      `spec.extraConfig.stages.boot[0].dns.path: /etc/kubernetes/ironplane/resolv.conf is written by Ironplane ${RESERVED}`,
    ]);
  });

  it('specProblems should check the typed files too, normalised', () => {
    expect(specProblems({ files: [{ path: '/etc/motd', content: 'hi' }, { path: '/etc/kubernetes/./ironplane/a', content: 'x' }] })).toEqual([
      `spec.files[1].path: /etc/kubernetes/./ironplane/a (that is /etc/kubernetes/ironplane/a) is written by Ironplane ${RESERVED}`,
    ]);
  });
});

describe('Kubernetes version', () => {
  it('should accept v1.31 and newer, or no version', () => {
    expect(kubernetesVersionProblem('v1.35.8')).toBeUndefined();
    expect(kubernetesVersionProblem('v1.31.0')).toBeUndefined();
    expect(kubernetesVersionProblem(undefined)).toBeUndefined();
  });

  it('should refuse older versions and say why', () => {
    expect(kubernetesVersionProblem('v1.30.4')).toBe(
      'Machine spec.version v1.30.4: kubeadm reads JoinConfiguration kubeadm.k8s.io/v1beta4 from v1.31 on, and this provider renders no older API; use v1.31 or newer',
    );
    expect(kubernetesVersionProblem('latest')).toBe('Machine spec.version "latest" is not a Kubernetes version (vX.Y.Z)');
  });
});

describe('JoinConfiguration v1beta4 schema', () => {
  const valid = {
    apiVersion: 'kubeadm.k8s.io/v1beta4',
    kind: 'JoinConfiguration',
    discovery: { bootstrapToken: { token: 'abcdef.0123456789abcdef', apiServerEndpoint: '10.0.0.1:6443', caCertHashes: [`sha256:${'a'.repeat(64)}`] } },
    nodeRegistration: { name: 'n1', kubeletExtraArgs: [{ name: 'node-labels', value: 'a=b' }], taints: [] },
    patches: { directory: '/etc/kubernetes/patches' },
  };

  it('should accept a well-formed configuration', () => {
    expect(joinConfigurationProblems(valid)).toEqual([]);
  });

  it('should refuse unknown fields, bad tokens, pins and endpoints, naming the path', () => {
    const bad = structuredClone(valid) as Record<string, unknown> & typeof valid;
    (bad.nodeRegistration as Record<string, unknown>)['kubeletExtraArg'] = [];
    bad.discovery.bootstrapToken.token = 'ABCDEF.0123456789abcdef';
    bad.discovery.bootstrapToken.caCertHashes = ['md5:abc'];
    bad.discovery.bootstrapToken.apiServerEndpoint = 'https://10.0.0.1:6443';
    expect(joinConfigurationProblems(bad)).toEqual(
      expect.arrayContaining([
        "/nodeRegistration must NOT have additional properties 'kubeletExtraArg'",
        '/discovery/bootstrapToken/token must match pattern "^[a-z0-9]{6}\\.[a-z0-9]{16}$"',
        '/discovery/bootstrapToken/caCertHashes/0 must match pattern "^sha256:[0-9a-f]{64}$"',
        expect.stringMatching(/^\/discovery\/bootstrapToken\/apiServerEndpoint must match pattern/),
      ]),
    );
  });

  it('should refuse v1beta3 kubeletExtraArgs (a map) and token discovery without a CA pin', () => {
    const old = { ...valid, nodeRegistration: { kubeletExtraArgs: { 'node-labels': 'a=b' } } };
    expect(joinConfigurationProblems(old)).toContain('/nodeRegistration/kubeletExtraArgs must be array');
    const unpinned = { ...valid, discovery: { bootstrapToken: { token: 'abcdef.0123456789abcdef', apiServerEndpoint: '10.0.0.1:6443' } } };
    expect(joinConfigurationProblems(unpinned)).toContain('/discovery/bootstrapToken must match a schema in anyOf');
  });

  const fileDiscovery = { file: { kubeConfigPath: '/etc/kubernetes/ironplane-discovery.conf' }, tlsBootstrapToken: 'abcdef.0123456789abcdef' };

  it('should accept file discovery with a TLS bootstrap token, from a file or an https URL', () => {
    expect(joinConfigurationProblems({ ...valid, discovery: fileDiscovery })).toEqual([]);
    expect(joinConfigurationProblems({ ...valid, discovery: { ...fileDiscovery, file: { kubeConfigPath: 'https://example.com/cluster-info.yaml' } } })).toEqual([]);
  });

  it('should refuse file discovery without a path, with another scheme or an unknown key, a bad TLS bootstrap token, or next to token discovery', () => {
    expect(joinConfigurationProblems({ ...valid, discovery: { ...fileDiscovery, file: {} } })).toContain("/discovery/file must have required property 'kubeConfigPath'");
    expect(joinConfigurationProblems({ ...valid, discovery: { ...fileDiscovery, file: { kubeConfigPath: 'http://example.com/c.yaml' } } })).toContainEqual(expect.stringMatching(/^\/discovery\/file\/kubeConfigPath must match pattern/));
    expect(joinConfigurationProblems({ ...valid, discovery: { ...fileDiscovery, file: { kubeConfigPath: '' } } })).toContainEqual(expect.stringMatching(/^\/discovery\/file\/kubeConfigPath must match pattern/));
    expect(joinConfigurationProblems({ ...valid, discovery: { ...fileDiscovery, file: { path: '/etc/x' } } })).toContain("/discovery/file must NOT have additional properties 'path'");
    expect(joinConfigurationProblems({ ...valid, discovery: { ...fileDiscovery, tlsBootstrapToken: 'abcdef' } })).toContain('/discovery/tlsBootstrapToken must match pattern "^[a-z0-9]{6}\\.[a-z0-9]{16}$"');
    expect(joinConfigurationProblems({ ...valid, discovery: { ...fileDiscovery, ...valid.discovery } })).toContain('/discovery must match exactly one schema in oneOf');
  });
});

describe('admission', () => {
  const req = (kind: string, operation: AdmissionRequest['operation'], object: unknown, oldObject?: unknown, dryRun = false): AdmissionRequest => ({
    uid: 'u',
    kind: { group: 'bootstrap.ironplane.dev', version: 'v1alpha1', kind },
    operation,
    name: 'w',
    namespace: 'team-a',
    dryRun,
    object: object as AdmissionRequest['object'],
    ...(oldObject ? { oldObject: oldObject as AdmissionRequest['object'] } : {}),
  });

  it('should refuse a KairosConfig whose extraConfig is invalid, naming the path', () => {
    expect(validateKairosConfig(req('KairosConfig', 'CREATE', { spec: { extraConfig: 'stages:\n  boot:\n    - comands: []\n' } }))).toEqual({
      allowed: false,
      message: expect.stringMatching(/^KairosConfig team-a\/w is invalid: spec\.extraConfig\.stages\.boot\[0\]\.comands: unknown step key/),
    });
    expect(validateKairosConfig(req('KairosConfig', 'UPDATE', { spec: {} }, { spec: {} }))).toEqual({ allowed: true });
  });

  it('should refuse extraConfig write_files that resolve to a reserved path, naming the path and what it resolves to', () => {
    const extra = 'write_files:\n  - path: /etc/kubernetes/x/../ironplane/join.yaml\n    content: x\n';
    expect(validateKairosConfig(req('KairosConfig', 'CREATE', { spec: { extraConfig: extra } }))).toEqual({
      allowed: false,
      message:
        'KairosConfig team-a/w is invalid: spec.extraConfig.write_files[0].path: /etc/kubernetes/x/../ironplane/join.yaml (that is /etc/kubernetes/ironplane/join.yaml) is written by Ironplane (/etc/kubernetes/ironplane/, /etc/ironplane/provider-id)',
    });
    expect(validateKairosConfigTemplate(req('KairosConfigTemplate', 'CREATE', { spec: { template: { spec: { extraConfig: 'stages:\n  boot:\n    - files:\n        - path: //etc/ironplane/provider-id\n' } } } }))).toEqual({
      allowed: false,
      message:
        'KairosConfigTemplate team-a/w is invalid: spec.template.spec.extraConfig.stages.boot[0].files[0].path: //etc/ironplane/provider-id (that is /etc/ironplane/provider-id) is written by Ironplane (/etc/kubernetes/ironplane/, /etc/ironplane/provider-id)',
    });
  });

  it('should check a template spec, and keep templates immutable except on dry-run', () => {
    const t = (extra: string) => ({ spec: { template: { spec: { extraConfig: extra } } } });
    expect(validateKairosConfigTemplate(req('KairosConfigTemplate', 'CREATE', t('k0s: {}\n')))).toEqual({
      allowed: false,
      message: expect.stringContaining('spec.template.spec.extraConfig.k0s: selects another Kubernetes distribution'),
    });
    expect(validateKairosConfigTemplate(req('KairosConfigTemplate', 'UPDATE', t('debug: true\n'), t('')))).toEqual({
      allowed: false,
      message: 'KairosConfigTemplate team-a/w: spec.template.spec is immutable; create a new KairosConfigTemplate and point the ClusterClass or MachineDeployment at it',
    });
    expect(validateKairosConfigTemplate(req('KairosConfigTemplate', 'UPDATE', t('debug: true\n'), t(''), true))).toEqual({ allowed: true });
  });
});
