// The join checker (test/sim/join.ts) against a real, kubeadm-ready tenant
// API server: a rendered Kairos cloud-config joins; a wrong token, a wrong CA
// pin, an expired token, a wrong or unreachable endpoint, a token outside the
// node group, a JoinConfiguration nobody runs and a providerID kubelet never
// sees each fail, with a message saying which. The golden renderings pass the
// real `kubeadm config validate`, and a broken one does not.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, startTenantApiServer, type ControlPlane, type TenantPlane } from '../../harness/index.js';
import { parseCloudConfig, type CloudConfig } from '../../sim/cloudinit.js';
import { checkJoin, findKubeadmJoin, kubeadmJoinValidator } from '../../sim/join.js';
import type { Dial } from '../../sim/netnsdial.js';
import { Client } from '../../../providers/kit/client.js';
import { Secrets } from '../../../providers/kit/types.js';
import { PROVIDER_ID_FILE, renderUserData } from '../../../providers/capi/userdata.js';
import { createRenderer } from '../../../providers/kairos/render.js';
import { bootstrapTokenSecret, caCertHashes, tokenSecretName } from '../../../providers/kairos/token.js';
import { REPO } from '../processes.js';
import { joinConfigurationOf, joinFilesOf, kubeadmValidate } from './world.js';

let cp: ControlPlane;
let tenant: TenantPlane;
let tc: Client;
const render = createRenderer();
const owner = { namespace: 'team-a', name: 'w', uid: 'join-test' };

beforeAll(async () => {
  cp = await startControlPlane({ name: 'kairos-join' });
  tenant = await startTenantApiServer(cp, { name: 'join-tenant', kubeadm: true });
  tc = new Client(tenant.kubeConfig, { fieldManager: 'kairos-test' });
  await tc.create(Secrets, bootstrapTokenSecret('abcdef', '0123456789abcdef', Date.now() + 30 * 60_000, owner));
}, 120_000);

afterAll(async () => {
  tc?.close();
  await cp?.stop();
});

/** A rendered cloud-config; with `discoveryCA`, one for file discovery (a private control-plane endpoint). */
function cloudConfig(over: { token?: string; pins?: string[]; endpoint?: { host: string; port: number }; discoveryCA?: string } = {}): CloudConfig {
  const text = render({
    namespace: 'team-a',
    config: 'w',
    cluster: 'c',
    machine: 'w',
    spec: {},
    files: [],
    endpoint: over.endpoint ?? tenant.endpoint,
    token: over.token ?? 'abcdef.0123456789abcdef',
    caCertHashes: over.pins ?? caCertHashes(tenant.ca.certPem),
    ...(over.discoveryCA ? { discoveryCA: over.discoveryCA } : {}),
  }).value;
  const cc = parseCloudConfig(renderUserData({ value: text }, 'kubevirt://team-a/w'));
  if (typeof cc === 'string') throw new Error(cc);
  return cc;
}

const check = (cc: CloudConfig) => checkJoin(findKubeadmJoin(cc)!, { timeoutMs: 3000 });

describe('the join checker', () => {
  it('given a rendered cloud-config with a valid token, pin and endpoint, should authenticate as the bootstrap token in the node group', async () => {
    const join = findKubeadmJoin(cloudConfig())!;
    expect(join.source).toBe('stages.network[0] file /etc/kubernetes/ironplane/kubeadm-join.yaml');
    expect(join.runsJoin).toBe(true);
    await expect(checkJoin(join)).resolves.toEqual({
      user: 'system:bootstrap:abcdef',
      groups: expect.arrayContaining(['system:bootstrappers:kubeadm:default-node-token']),
      server: tenant.url,
    });
    await expect(kubeadmJoinValidator({ requireJoin: true })({ cloudConfig: cloudConfig() })).resolves.toBeUndefined();
  });

  it('given a wrong token secret, should fail on the cluster-info signature', async () => {
    await expect(check(cloudConfig({ token: 'abcdef.ffffffffffffffff' }))).rejects.toThrow(`cluster-info at ${tenant.endpoint.host}:${tenant.endpoint.port}, token id abcdef: the signature does not verify with the token secret (wrong token)`);
  });

  it('given a token the tenant does not know, should find no signature for it', async () => {
    await expect(check(cloudConfig({ token: 'zzzzzz.0123456789abcdef' }))).rejects.toThrow('has no signature for token id zzzzzz: the token does not exist there, has expired, or may not sign');
  });

  it('given a wrong CA pin, should refuse the cluster CA', async () => {
    const other = await startTenantApiServer(cp, { name: 'join-other' });
    try {
      await expect(check(cloudConfig({ pins: caCertHashes(other.ca.certPem) }))).rejects.toThrow(/^the cluster CA at .* has public key hash sha256:[0-9a-f]{64}, which matches none of the caCertHashes pins/);
    } finally {
      await other.stop();
    }
  });

  it('given the management API server as endpoint, should not find cluster-info there', async () => {
    const mgmt = new URL(cp.url);
    await expect(check(cloudConfig({ endpoint: { host: mgmt.hostname, port: Number(mgmt.port) } }))).rejects.toThrow(`cluster-info at 127.0.0.1:${mgmt.port}: HTTP 403`);
  });

  it('given an endpoint nothing listens on, should say it cannot reach it', async () => {
    await expect(check(cloudConfig({ endpoint: { host: '127.0.0.1', port: 1 } }))).rejects.toThrow(/^cannot reach the control plane at 127\.0\.0\.1:1 \(apiServerEndpoint in stages\.network\[0\] file .*\): connect ECONNREFUSED/);
  });

  it('given a token that expires, should join before and fail after its expiry', async () => {
    await tc.create(Secrets, bootstrapTokenSecret('exp000', '0123456789abcdef', Date.now() + 4000, owner));
    const cc = cloudConfig({ token: 'exp000.0123456789abcdef' });
    await expect(check(cc)).resolves.toMatchObject({ user: 'system:bootstrap:exp000' });
    await new Promise((r) => setTimeout(r, 5000));
    // The apiserver refuses an expired token at once; the token cleaner then deletes it and the signer drops its signature.
    await expect(check(cc)).rejects.toThrow(/token id exp000.*(has expired or been deleted|does not exist there, has expired)/);
  });

  it('given a token outside the kubeadm node group, should refuse it', async () => {
    const s = bootstrapTokenSecret('nogrp0', '0123456789abcdef', Date.now() + 60_000, owner);
    delete s.stringData!['auth-extra-groups'];
    await tc.create(Secrets, s);
    await expect(check(cloudConfig({ token: 'nogrp0.0123456789abcdef' }))).rejects.toThrow('token id nogrp0 is not in group system:bootstrappers:kubeadm:default-node-token');
    await tc.delete(Secrets, tokenSecretName('nogrp0'), 'kube-system');
  });

  it('given a JoinConfiguration no command runs, or a join that drops the providerID, should refuse the machine', async () => {
    const validate = kubeadmJoinValidator();
    const cc = cloudConfig();
    const step = (cc['stages'] as Record<string, { commands?: string[] }[]>)['network']![0]!;
    const script = step.commands![0]!;
    step.commands = [script.replace(/^kubeadm join .*$/m, 'true')];
    expect(await validate({ cloudConfig: cc })).toBe('stages.network[0] file /etc/kubernetes/ironplane/kubeadm-join.yaml holds a JoinConfiguration, but no command runs kubeadm join --config with it');
    step.commands = [script.replaceAll(PROVIDER_ID_FILE, '/etc/hostname')];
    expect(await validate({ cloudConfig: cc })).toBe(
      'no command of the join writes a kubeletconfiguration patch into /etc/kubernetes/ironplane/patches from /etc/ironplane/provider-id: kubelet would register without the providerID',
    );
  });

  it('given userdata without any kubeadm join, should accept it by default and refuse it when a join is required', async () => {
    const cc = parseCloudConfig(`#cloud-config\nwrite_files:\n  - path: ${PROVIDER_ID_FILE}\n    content: kubevirt://a/b\n`) as CloudConfig;
    expect(await kubeadmJoinValidator()({ cloudConfig: cc })).toBeUndefined();
    expect(await kubeadmJoinValidator({ requireJoin: true })({ cloudConfig: cc })).toBe('the userdata runs no kubeadm join');
  });
});

describe('the join checker with file discovery (a private control-plane endpoint)', () => {
  const VIP = { host: '198.18.0.1', port: 6443 };

  const fileCloudConfig = (over: { endpoint?: { host: string; port: number }; ca?: string; token?: string } = {}): CloudConfig =>
    cloudConfig({ ...(over.endpoint ? { endpoint: over.endpoint } : {}), ...(over.token ? { token: over.token } : {}), discoveryCA: over.ca ?? tenant.ca.certPem });

  /** Every connection goes to `to` on loopback, whatever address it was for: the VIP's load balancer, in one line. */
  const redirect =
    (to: TenantPlane): Dial =>
    (_host, _port, timeoutMs) =>
      new Promise((resolve, reject) => {
        const s = net.connect(to.endpoint.port, to.endpoint.host);
        s.setTimeout(timeoutMs, () => s.destroy(new Error('timed out')));
        s.once('connect', () => {
          s.setTimeout(0);
          resolve(s);
        });
        s.once('error', reject);
      });

  it("given the discovery file of the rendered cloud-config, should authenticate with the tlsBootstrapToken at the file's server, not cluster-info's", async () => {
    const join = findKubeadmJoin(fileCloudConfig())!;
    expect(join.discoveryFile?.path).toBe('/etc/kubernetes/ironplane-discovery.conf');
    await expect(checkJoin(join, { timeoutMs: 3000 })).resolves.toEqual({
      user: 'system:bootstrap:abcdef',
      groups: expect.arrayContaining(['system:bootstrappers:kubeadm:default-node-token']),
      server: tenant.url,
    });
    await expect(kubeadmJoinValidator({ requireJoin: true })({ cloudConfig: fileCloudConfig() })).resolves.toBeUndefined();
  });

  it('given a VIP as the server, should join only where the serving certificate names the VIP (certSANs), over the connection the dial opens', async () => {
    const join = findKubeadmJoin(fileCloudConfig({ endpoint: VIP }))!;
    await expect(checkJoin(join, { timeoutMs: 3000, dial: redirect(tenant) })).rejects.toThrow(
      /^cannot reach the control plane at https:\/\/198\.18\.0\.1:6443 \(the server of the discovery file .*\) with a certificate its CA signed for that address: .*IP: 198\.18\.0\.1 is not in the cert's list/,
    );
    const withSAN = await startTenantApiServer(cp, { name: 'join-vip', kubeadm: true, certSANs: [VIP.host] });
    try {
      const wc = new Client(withSAN.kubeConfig, { fieldManager: 'kairos-test' });
      try {
        await wc.create(Secrets, bootstrapTokenSecret('abcdef', '0123456789abcdef', Date.now() + 30 * 60_000, owner));
      } finally {
        wc.close();
      }
      const vipJoin = findKubeadmJoin(fileCloudConfig({ endpoint: VIP, ca: withSAN.ca.certPem }))!;
      await expect(checkJoin(vipJoin, { timeoutMs: 3000, dial: redirect(withSAN) })).resolves.toMatchObject({ user: 'system:bootstrap:abcdef', server: 'https://198.18.0.1:6443' });
      // Without the dial the VIP leads nowhere from here.
      await expect(checkJoin(vipJoin, { timeoutMs: 2000 })).rejects.toThrow(/^cannot reach the control plane at https:\/\/198\.18\.0\.1:6443/);
    } finally {
      await withSAN.stop();
    }
  });

  it("given another cluster's CA in the discovery file, should refuse the server's certificate", async () => {
    await expect(checkJoin(findKubeadmJoin(fileCloudConfig({ ca: cp.ca.certPem }))!, { timeoutMs: 3000 })).rejects.toThrow(/with a certificate its CA signed for that address: .*(unable to verify|self.signed|certificate)/i);
  });

  it('given a wrong token, should be refused at the TLS bootstrap', async () => {
    await expect(checkJoin(findKubeadmJoin(fileCloudConfig({ token: 'abcdef.ffffffffffffffff' }))!, { timeoutMs: 3000 })).rejects.toThrow(`${tenant.url} rejected token id abcdef (HTTP 401)`);
  });

  it('given a discovery file the userdata does not write, or no tlsBootstrapToken, should say so', async () => {
    const cc = fileCloudConfig();
    const step = (cc['stages'] as Record<string, { files?: { path: string }[] }[]>)['network']![0]!;
    step.files = step.files!.filter((f) => f.path !== '/etc/kubernetes/ironplane-discovery.conf');
    await expect(checkJoin(findKubeadmJoin(cc)!)).rejects.toThrow(/^the discovery file \/etc\/kubernetes\/ironplane-discovery\.conf \(discovery\.file\.kubeConfigPath in stages\.network\[0\] file .*\) is not written by the userdata$/);
    const join = findKubeadmJoin(fileCloudConfig())!;
    delete join.config!.discovery!.tlsBootstrapToken;
    await expect(checkJoin(join)).rejects.toThrow('file discovery without discovery.tlsBootstrapToken (the discovery file carries no credentials)');
  });
});

describe('kubeadm config validate (the real kubeadm)', () => {
  const goldens = fs.readdirSync(path.join(REPO, 'providers/kairos/testdata')).filter((f) => f.endsWith('.golden.yaml'));

  it.each(goldens)('should accept the JoinConfiguration of %s', (file) => {
    const text = fs.readFileSync(path.join(REPO, 'providers/kairos/testdata', file), 'utf8');
    const r = kubeadmValidate(joinConfigurationOf(text), joinFilesOf(text));
    expect(r.out.trim()).toBe('ok');
    expect(r.code).toBe(0);
  });

  it('should refuse a JoinConfiguration with an unknown field or a bad token, so its acceptance means something', () => {
    const good = joinConfigurationOf(fs.readFileSync(path.join(REPO, 'providers/kairos/testdata/minimal.golden.yaml'), 'utf8'));
    const unknown = kubeadmValidate(good.replace('nodeRegistration:', 'nodeRegistraton:'));
    expect(unknown.code).toBe(1);
    expect(unknown.out).toContain('strict decoding error: unknown field "nodeRegistraton"');
    const token = kubeadmValidate(good.replace('abcdef.0123456789abcdef', 'ABCDEF.0123456789abcdef'));
    expect(token.code).toBe(1);
    expect(token.out).toContain('the bootstrap token is invalid');
  });

  it('should refuse file discovery whose kubeconfig the node does not have, so the private-endpoint golden means something', () => {
    const r = kubeadmValidate(joinConfigurationOf(fs.readFileSync(path.join(REPO, 'providers/kairos/testdata/private-endpoint.golden.yaml'), 'utf8')));
    expect(r.code).toBe(1);
    expect(r.out).toContain('discovery.file.kubeConfigPath: Invalid value: "/etc/kubernetes/ironplane-discovery.conf": not a valid HTTPS URL or a file on disk');
  });
});
