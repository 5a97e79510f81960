// What every provider-manager test needs: the manager's own RBAC from
// config/rbac/<role> bound to a user with a client certificate (so a missing
// verb fails the tests), and its webhooks served out of cluster on loopback,
// as envtest does it.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { freePorts, issueCert, type ControlPlane } from '../harness/index.js';
import { renderKubeconfig } from '../harness/kubeconfig.js';
import type { Client } from '../../providers/kit/client.js';
import { Namespaces, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { REPO, run, until, type Proc } from './processes.js';

/**
 * The manager's webhooks out of cluster, as envtest does it: a serving
 * certificate for 127.0.0.1 from the plane's CA, and config/webhook's
 * configuration pointed at https://127.0.0.1:<port><path>.
 */
export async function localWebhooks(cp: ControlPlane, client: Client, role: string): Promise<{ port: number; certDir: string }> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port for the webhook server');
  const certDir = path.join(cp.dir, `${role}-webhook-certs`);
  fs.mkdirSync(certDir, { recursive: true });
  const serving = await issueCert({ ca: cp.ca, commonName: `ironplane-${role}-webhook`, ipAddresses: ['127.0.0.1'], usages: 'server' });
  fs.writeFileSync(path.join(certDir, 'tls.crt'), serving.certPem);
  fs.writeFileSync(path.join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  const config = parseAllDocuments(fs.readFileSync(path.join(REPO, `config/webhook/${role}.yaml`), 'utf8'))[0]!.toJS() as KubeObject & {
    webhooks: { clientConfig: { service?: { path: string }; url?: string; caBundle?: string } }[];
  };
  for (const hook of config.webhooks) {
    hook.clientConfig = { url: `https://127.0.0.1:${port}${hook.clientConfig.service!.path}`, caBundle: Buffer.from(cp.ca.certPem).toString('base64') };
  }
  await client.apply({ group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingWebhookConfiguration', plural: 'validatingwebhookconfigurations', namespaced: false }, config, { force: true });
  return { port, certDir };
}

/** Applies config/rbac/<role>, binds it to a user, and writes a kubeconfig with that user's client certificate. */
export async function restrictedKubeconfig(cp: ControlPlane, client: Client, role: string): Promise<string> {
  const user = `ironplane-${role}`;
  await ensureNamespace(client, 'ironplane-system');
  const kinds: Record<string, ResourceType> = {
    ClusterRole: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
    Role: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true },
    ClusterRoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
    RoleBinding: { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
  };
  const docs = parseAllDocuments(fs.readFileSync(path.join(REPO, `config/rbac/${role}/role.yaml`), 'utf8')).map((d) => d.toJS() as KubeObject);
  for (const doc of docs) await client.apply(kinds[doc.kind!]!, doc, { force: true });
  const subject = [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: user }];
  await client.apply(kinds['ClusterRoleBinding']!, { metadata: { name: `ironplane-${role}-manager` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `ironplane-${role}-manager` }, subjects: subject } as KubeObject);
  await client.apply(kinds['RoleBinding']!, {
    metadata: { name: `ironplane-${role}-leader-election`, namespace: 'ironplane-system' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `ironplane-${role}-leader-election` },
    subjects: subject,
  } as KubeObject);
  const cert = await issueCert({ ca: cp.ca, commonName: user, usages: 'client' });
  const file = path.join(cp.dir, `${role}-manager.kubeconfig`);
  fs.writeFileSync(file, renderKubeconfig({ server: cp.url, caPem: cp.ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem, name: 'management', user }), { mode: 0o600 });
  return file;
}

export async function ensureNamespace(client: Client, ns: string): Promise<void> {
  if (!(await client.tryGet(Namespaces, ns))) await client.create(Namespaces, { metadata: { name: ns } });
}

/** The command line of `ironplane manager --role <role>` as the tests run it; flags added after these win. */
export function managerArgs(role: string, kubeconfig: string, webhook: { port: number; certDir: string }): string[] {
  return [
    path.join(REPO, 'dist/providers/cli/main.js'),
    'manager',
    '--role',
    role,
    '--kubeconfig',
    kubeconfig,
    '--leader-elect',
    '--metrics-bind-address',
    '0',
    '--health-probe-bind-address',
    '127.0.0.1:0',
    '--log-level',
    'debug',
    '--webhook-host',
    '127.0.0.1',
    '--webhook-port',
    String(webhook.port),
    '--webhook-cert-dir',
    webhook.certDir,
  ];
}

/**
 * The one `ironplane manager --role <role>` process a test world runs at a
 * time. A manager that exits while the world still expects it (a port
 * taken, a crash) has its last output printed, so a test that then times
 * out says why; output of stopped processes is kept for the world's logs.
 */
export class RoleManager {
  proc: Proc | undefined;
  private past = '';

  constructor(
    private readonly role: string,
    private readonly args: readonly string[],
    /** Where its webhook (or extension) server listens on loopback. */
    readonly webhookPort: number,
    /** Its environment, on top of this process's. */
    private readonly env: NodeJS.ProcessEnv = {},
  ) {}

  start(extra: readonly string[] = []): Proc {
    const p = run([...this.args, ...extra], { env: this.env });
    this.proc = p;
    void p.exited.then((code) => {
      if (this.proc === p) console.error(`ironplane manager --role ${this.role} exited with ${code}:\n${p.output().split('\n').slice(-40).join('\n')}`);
    });
    return p;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    p.child.kill(signal);
    await p.exited;
    this.past += p.output();
  }

  output(): string {
    return this.past + (this.proc?.output() ?? '');
  }

  /** Resolves once the manager's webhook server accepts connections. */
  async webhooksUp(): Promise<void> {
    await until(`the ${this.role} manager to serve its webhooks`, () =>
      new Promise<boolean>((resolve) => {
        const sock = net.connect(this.webhookPort, '127.0.0.1', () => {
          sock.destroy();
          resolve(true);
        });
        sock.on('error', () => resolve(false));
      }),
    );
  }
}
