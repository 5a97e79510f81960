// The join checker: what `kubeadm join` with bootstrap-token discovery does
// before a kubelet may register, done for real against the tenant API server
// named in the machine's userdata:
//   1. fetch kube-public/cluster-info anonymously, without trusting the
//      server yet (any certificate);
//   2. verify the detached JWS `jws-kubeconfig-<token id>` over its
//      kubeconfig with the token's secret (HS256; the bootstrap signer in
//      kube-controller-manager signs with every valid signing token);
//   3. check that a CA in that kubeconfig has a public key matching one of
//      the caCertHashes pins (sha256 of the DER SubjectPublicKeyInfo);
//   4. fetch cluster-info again, now trusting only that CA, and expect the
//      same content;
//   5. authenticate with the token (a SelfSubjectReview must say
//      system:bootstrap:<id> in the kubeadm node group), read the
//      kubeadm-config and kubelet-config ConfigMaps kubeadm join reads, and
//      ask whether the token may create the CertificateSigningRequest of the
//      kubelet's TLS bootstrap.
// A wrong token, a wrong pin, an expired or deleted token, an unreachable or
// wrong endpoint: each fails one of these steps, with a message saying which.
//
// File discovery (discovery.file.kubeConfigPath with discovery.tlsBootstrapToken,
// how a worker joins through a private control-plane endpoint, adr/0014) is
// kubeadm's file.ValidateConfigInfo: the file (written by the userdata) names
// the server and embeds the CA; cluster-info is read over a connection that
// trusts only that CA and checks the server's name or address against the
// certificate, and kubeadm keeps the FILE's server, not cluster-info's, for
// the TLS bootstrap (step 5 above, with the tlsBootstrapToken).
//
// `dial` makes every connection from somewhere else, e.g. from inside the
// VM's network namespace (netnsdial.ts), so the join crosses the datapath.
//
// The JoinConfiguration is found where Kairos would run it: a yip stage step
// that writes it (files) and runs `kubeadm join --config <that file>`
// (commands); cloud-init write_files/runcmd and Kairos provider-kubeadm's
// `cluster:` block are read too. When the userdata carries a providerID file,
// the join must pass it to kubelet (a kubeadm KubeletConfiguration patch in
// the JoinConfiguration's patches.directory written from that file), or the
// Node would register without it.
import { createHmac, createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import https from 'node:https';
import { isIP, type Socket } from 'node:net';
import tls from 'node:tls';
import { parse } from 'yaml';
import { fileContent, findJoinConfig, PROVIDER_ID_PATH, type CloudConfig, type WriteFile } from './cloudinit.js';
import type { Dial } from './netnsdial.js';

export const NODE_BOOTSTRAP_GROUP = 'system:bootstrappers:kubeadm:default-node-token';
const TOKEN_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

/** A kubeadm join found in userdata. */
export interface KubeadmJoin {
  /** Where it was found, for messages. */
  source: string;
  /** The parsed JoinConfiguration (absent for provider-kubeadm's cluster block without config). */
  config?: JoinConfigurationDoc;
  token?: string;
  apiServerEndpoint?: string;
  caCertHashes: string[];
  unsafeSkipCAVerification: boolean;
  /** The commands that run the join (with whatever runs before it in the same step). */
  commands: string[];
  /** kubeadm join --config <path> names the file the JoinConfiguration is in. */
  runsJoin: boolean;
  /** File discovery: discovery.file.kubeConfigPath, and that file's content when the userdata writes it. */
  discoveryFile?: { path: string; content: string | undefined };
}

export interface JoinConfigurationDoc {
  apiVersion?: string;
  kind?: string;
  discovery?: {
    bootstrapToken?: { token?: string; apiServerEndpoint?: string; caCertHashes?: string[]; unsafeSkipCAVerification?: boolean };
    file?: { kubeConfigPath?: string };
    tlsBootstrapToken?: string;
  };
  nodeRegistration?: { name?: string };
  patches?: { directory?: string };
}

interface StageFile extends WriteFile {
  permissions?: string;
}

interface Step {
  name?: string;
  if?: string;
  files?: StageFile[];
  commands?: string[];
}

function asJoinConfiguration(text: string | undefined): JoinConfigurationDoc | undefined {
  if (!text?.includes('JoinConfiguration')) return undefined;
  try {
    const doc = parse(text, { version: '1.1' }) as JoinConfigurationDoc | null;
    return doc?.kind === 'JoinConfiguration' ? doc : undefined;
  } catch {
    return undefined;
  }
}

const runsJoinWith = (commands: string[], path: string): boolean =>
  commands.some((c) => new RegExp(`(^|[\\s;&|])kubeadm\\s+join\\b[^\\n]*--config[=\\s]+${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`, 'm').test(c));

function fromConfig(source: string, config: JoinConfigurationDoc, commands: string[], runsJoin: boolean, written: (path: string) => string | undefined): KubeadmJoin {
  const bt = config.discovery?.bootstrapToken;
  const file = config.discovery?.file?.kubeConfigPath;
  return {
    ...(file ? { discoveryFile: { path: file, content: written(file) } } : {}),
    source,
    config,
    ...(bt?.token ?? config.discovery?.tlsBootstrapToken ? { token: bt?.token ?? config.discovery?.tlsBootstrapToken } : {}),
    ...(bt?.apiServerEndpoint ? { apiServerEndpoint: bt.apiServerEndpoint } : {}),
    caCertHashes: bt?.caCertHashes ?? [],
    unsafeSkipCAVerification: bt?.unsafeSkipCAVerification ?? false,
    commands,
    runsJoin,
  };
}

/** Every file the userdata writes: Kairos stage steps' files, then cloud-init write_files. */
function allFiles(cc: CloudConfig): WriteFile[] {
  const files: WriteFile[] = [];
  const stages = cc['stages'];
  if (stages && typeof stages === 'object' && !Array.isArray(stages)) {
    for (const steps of Object.values(stages as Record<string, unknown>)) {
      if (Array.isArray(steps)) for (const step of steps as Step[]) files.push(...(step?.files ?? []));
    }
  }
  return [...files, ...(cc.write_files ?? [])];
}

/**
 * The kubeadm join the userdata would run, or undefined when it has none:
 * first Kairos stages (in document order), then cloud-init write_files and
 * runcmd, then provider-kubeadm's cluster block.
 */
export function findKubeadmJoin(cc: CloudConfig): KubeadmJoin | undefined {
  const written = (path: string): string | undefined => {
    const f = allFiles(cc).find((w) => w.path === path);
    return f ? fileContent(f) : undefined;
  };
  const stages = cc['stages'];
  if (stages && typeof stages === 'object' && !Array.isArray(stages)) {
    for (const [stage, steps] of Object.entries(stages as Record<string, unknown>)) {
      if (!Array.isArray(steps)) continue;
      const list = steps as Step[];
      for (const [i, step] of list.entries()) {
        for (const f of step?.files ?? []) {
          const config = asJoinConfiguration(fileContent(f));
          if (!config) continue;
          // yip runs a step's files before its commands, and steps in order.
          const commands = list.slice(i).flatMap((s) => s?.commands ?? []);
          return fromConfig(`stages.${stage}[${i}] file ${f.path}`, config, commands, runsJoinWith(commands, f.path), written);
        }
      }
    }
  }
  const runcmd = Array.isArray(cc['runcmd']) ? (cc['runcmd'] as unknown[]).filter((c): c is string => typeof c === 'string') : [];
  for (const f of cc.write_files ?? []) {
    const config = asJoinConfiguration(fileContent(f));
    if (config) return fromConfig(`write_files ${f.path}`, config, runcmd, runsJoinWith(runcmd, f.path), written);
  }
  const legacy = findJoinConfig(cc);
  if (legacy?.source === 'cluster') {
    // provider-kubeadm runs kubeadm itself from the cluster block.
    return {
      source: 'cluster',
      ...(legacy.token ? { token: legacy.token } : {}),
      ...(legacy.apiServerEndpoint ? { apiServerEndpoint: legacy.apiServerEndpoint } : {}),
      caCertHashes: legacy.caCertHashes ?? [],
      unsafeSkipCAVerification: legacy.unsafeSkipCAVerification ?? false,
      commands: [],
      runsJoin: true,
    };
  }
  return undefined;
}

/**
 * Why the kubelet would not get the providerID the userdata carries, or
 * undefined: the JoinConfiguration must name a patches directory, and a
 * command of the join must write a kubeletconfiguration patch there from the
 * providerID file.
 */
export function providerIDWiring(join: KubeadmJoin): string | undefined {
  if (join.source === 'cluster') return undefined;
  const dir = join.config?.patches?.directory?.replace(/\/+$/, '');
  if (!dir) return `the JoinConfiguration (${join.source}) has no patches.directory: kubelet would register without the providerID from ${PROVIDER_ID_PATH}`;
  const wired = join.commands.some((c) => c.includes(PROVIDER_ID_PATH) && c.includes(`${dir}/kubeletconfiguration`));
  return wired ? undefined : `no command of the join writes a kubeletconfiguration patch into ${dir} from ${PROVIDER_ID_PATH}: kubelet would register without the providerID`;
}

/** Base64url without padding, as JWS uses. */
const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/**
 * Verifies a detached JWS ("<header>..<signature>") over `payload` with HS256
 * and the token secret; returns why not, or undefined.
 */
export function verifyDetachedJWS(jws: string, payload: string, tokenID: string, tokenSecret: string): string | undefined {
  const parts = jws.split('.');
  if (parts.length !== 3 || parts[1] !== '') return 'the signature is not a detached JWS (header..signature)';
  const [h, , sig] = parts as [string, string, string];
  let header: { alg?: string; kid?: string };
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as typeof header;
  } catch {
    return 'the JWS header is not JSON';
  }
  if (header.alg !== 'HS256') return `the JWS algorithm is ${header.alg ?? 'missing'}, not HS256`;
  if (header.kid !== undefined && header.kid !== tokenID) return `the JWS key id is ${header.kid}, not ${tokenID}`;
  const want = createHmac('sha256', tokenSecret).update(`${h}.${b64url(payload)}`).digest();
  const got = Buffer.from(sig, 'base64url');
  return got.length === want.length && timingSafeEqual(got, want) ? undefined : 'the signature does not verify with the token secret';
}

/** kubeadm's pin of a certificate: sha256 of its DER SubjectPublicKeyInfo. */
export function spkiHash(pem: string): string {
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

interface Reply {
  status: number;
  body: string;
}

interface CallOptions {
  /** Trust only this CA, and check the certificate against the URL's host name or address; without it, trust anything. */
  ca?: string;
  bearer?: string;
  method?: string;
  body?: unknown;
  timeoutMs: number;
  dial?: Dial;
}

function httpsCall(url: string, opts: CallOptions): Promise<Reply> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(u.port || 443);
  // Discovery's first fetch trusts nothing; later calls trust only the pinned CA.
  const trust = opts.ca ? { ca: opts.ca, ...(isIP(host) ? {} : { servername: host }) } : { rejectUnauthorized: false };
  const dial = opts.dial;
  // With a dial, TLS runs over the dialled connection; the certificate is
  // checked against the URL's host name or address as without one.
  const connection = dial
    ? {
        createConnection: (_o: unknown, done: (err: Error | null, socket?: Socket) => void): undefined => {
          dial(host, port, opts.timeoutMs).then(
            (raw) => done(null, tls.connect({ socket: raw, host, ...trust })),
            (e: Error) => done(e),
          );
          return undefined;
        },
      }
    : { agent: false, ...trust };
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = https.request(
      url,
      {
        method: opts.method ?? 'GET',
        timeout: opts.timeoutMs,
        headers: {
          accept: 'application/json',
          ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}),
        },
        ...(connection as https.RequestOptions),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

interface ConfigMap {
  data?: Record<string, string>;
}

interface KubeconfigDoc {
  clusters?: { cluster?: { server?: string; 'certificate-authority-data'?: string } }[];
}

export interface JoinResult {
  /** The identity the token authenticated as. */
  user: string;
  groups: string[];
  /** The API server the kubelet would use afterwards (cluster-info's server, or the discovery file's). */
  server: string;
}

export interface CheckJoinOptions {
  timeoutMs?: number;
  /** Open every connection through this (e.g. from inside the VM's network namespace); default: from this process. */
  dial?: Dial;
}

const CLUSTER_INFO_PATH = '/api/v1/namespaces/kube-public/configmaps/cluster-info';

const fail = (why: string): never => {
  throw new Error(why);
};

/** The certificates of a PEM bundle, or none. */
const pemCerts = (pem: string): string[] => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];

/** The token's id and secret, checked for kubeadm's form. */
function splitToken(join: KubeadmJoin, token: string | undefined): { token: string; id: string; secret: string } {
  const t = token ?? fail(`${join.source}: no bootstrap token`);
  const m = TOKEN_RE.exec(t) ?? fail(`${join.source}: the token is not of the form [a-z0-9]{6}.[a-z0-9]{16}`);
  return { token: t, id: m[1]!, secret: m[2]! };
}

/** Runs kubeadm's discovery and TLS-bootstrap prerequisites for `join`; resolves, or rejects with why the join fails. */
export async function checkJoin(join: KubeadmJoin, opts: CheckJoinOptions = {}): Promise<JoinResult> {
  return join.discoveryFile ? checkFileJoin(join, join.discoveryFile, opts) : checkTokenJoin(join, opts);
}

/** Bootstrap-token discovery: steps 1-4 against apiServerEndpoint, then step 5 against cluster-info's server. */
async function checkTokenJoin(join: KubeadmJoin, opts: CheckJoinOptions): Promise<JoinResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const dial = opts.dial ? { dial: opts.dial } : {};
  const { token, id, secret } = splitToken(join, join.token);
  const endpoint = join.apiServerEndpoint ?? fail(`${join.source}: no apiServerEndpoint`);
  if (!join.unsafeSkipCAVerification && join.caCertHashes.length === 0) fail(`${join.source}: no caCertHashes and unsafeSkipCAVerification is not set (kubeadm refuses this)`);
  const base = `https://${endpoint}`;

  // 1. Anonymous, untrusted fetch.
  let first: Reply;
  try {
    first = await httpsCall(base + CLUSTER_INFO_PATH, { timeoutMs, ...dial });
  } catch (e) {
    return fail(`cannot reach the control plane at ${endpoint} (apiServerEndpoint in ${join.source}): ${(e as Error).message}`);
  }
  if (first.status !== 200) fail(`cluster-info at ${endpoint}: HTTP ${first.status} (is this the tenant API server, with kubeadm's cluster-info and its anonymous read access?)`);
  const cm = JSON.parse(first.body) as ConfigMap;
  const kubeconfig = cm.data?.['kubeconfig'] ?? fail(`cluster-info at ${endpoint} has no kubeconfig`);

  // 2. The signature of the token.
  const jws = cm.data?.[`jws-kubeconfig-${id}`] ?? fail(`cluster-info at ${endpoint} has no signature for token id ${id}: the token does not exist there, has expired, or may not sign`);
  const bad = verifyDetachedJWS(jws, kubeconfig, id, secret);
  if (bad) fail(`cluster-info at ${endpoint}, token id ${id}: ${bad} (wrong token)`);

  // 3. The CA pin.
  const kc = parse(kubeconfig) as KubeconfigDoc;
  const cluster = kc.clusters?.[0]?.cluster ?? fail(`cluster-info at ${endpoint}: its kubeconfig has no cluster`);
  const caData = cluster['certificate-authority-data'] ?? fail(`cluster-info at ${endpoint}: its kubeconfig has no certificate-authority-data`);
  const caPem = Buffer.from(caData, 'base64').toString('utf8');
  const certs = pemCerts(caPem);
  if (certs.length === 0) fail(`cluster-info at ${endpoint}: no CA certificate`);
  const actual = certs.map(spkiHash);
  if (!join.unsafeSkipCAVerification && !actual.some((h) => join.caCertHashes.includes(h))) {
    fail(`the cluster CA at ${endpoint} has public key hash ${actual.join(', ')}, which matches none of the caCertHashes pins in ${join.source} (${join.caCertHashes.join(', ')})`);
  }

  // 4. The same cluster-info over a connection that trusts only that CA.
  let second: Reply;
  try {
    second = await httpsCall(base + CLUSTER_INFO_PATH, { ca: caPem, timeoutMs, ...dial });
  } catch (e) {
    return fail(`${endpoint} does not present a certificate from the pinned CA: ${(e as Error).message}`);
  }
  if (second.status !== 200 || (JSON.parse(second.body) as ConfigMap).data?.['kubeconfig'] !== kubeconfig) fail(`cluster-info at ${endpoint} changed between the untrusted and the trusted fetch`);

  // 5. The token itself, against the server cluster-info names.
  const server = (cluster.server ?? base).replace(/\/+$/, '');
  return tlsBootstrap(server, "cluster-info's server", caPem, { token, id }, { timeoutMs, ...dial });
}

/**
 * File discovery (kubeadm's file.ValidateConfigInfo, then discovery.For with
 * the tlsBootstrapToken): the file's server, trusting only the file's CA.
 */
async function checkFileJoin(join: KubeadmJoin, file: { path: string; content: string | undefined }, opts: CheckJoinOptions): Promise<JoinResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const dial = opts.dial ? { dial: opts.dial } : {};
  const where = `the discovery file ${file.path} (discovery.file.kubeConfigPath in ${join.source})`;
  const text = file.content ?? fail(`${where} is not written by the userdata`);
  let kc: KubeconfigDoc;
  try {
    kc = parse(text) as KubeconfigDoc;
  } catch (e) {
    return fail(`${where} is not YAML: ${(e as Error).message}`);
  }
  const cluster = kc?.clusters?.[0]?.cluster ?? fail(`${where} has no cluster`);
  const server = (cluster.server ?? fail(`${where} names no server`)).replace(/\/+$/, '');
  // kubeadm embeds the CA or fails; without one the client would trust the
  // system roots, which no tenant CA is among.
  const caPem = Buffer.from(cluster['certificate-authority-data'] ?? fail(`${where} has no certificate-authority-data`), 'base64').toString('utf8');
  if (pemCerts(caPem).length === 0) fail(`${where}: its certificate-authority-data holds no certificate`);
  const { token, id } = splitToken(join, join.config?.discovery?.tlsBootstrapToken ?? fail(`${join.source}: file discovery without discovery.tlsBootstrapToken (the discovery file carries no credentials)`));

  // cluster-info over a connection that trusts only the file's CA and checks
  // the server's name or address: the TLS check is the point of this step.
  let info: Reply;
  try {
    info = await httpsCall(server + CLUSTER_INFO_PATH, { ca: caPem, timeoutMs, ...dial });
  } catch (e) {
    return fail(`cannot reach the control plane at ${server} (the server of ${where}) with a certificate its CA signed for that address: ${(e as Error).message}`);
  }
  if (info.status !== 200 && info.status !== 403) fail(`cluster-info at ${server}: HTTP ${info.status}`);

  // kubeadm keeps the file's server for the TLS bootstrap.
  return tlsBootstrap(server, `the server of ${where}`, caPem, { token, id }, { timeoutMs, ...dial });
}

/** Step 5: what the token must be allowed at `server` for the kubelet's TLS bootstrap. */
async function tlsBootstrap(server: string, what: string, caPem: string, t: { token: string; id: string }, opts: { timeoutMs: number; dial?: Dial }): Promise<JoinResult> {
  const { token, id } = t;
  const call = (path: string, init: { method?: string; body?: unknown } = {}) => httpsCall(server + path, { ca: caPem, bearer: token, ...opts, ...init });
  let review: Reply;
  try {
    review = await call('/apis/authentication.k8s.io/v1/selfsubjectreviews', { method: 'POST', body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
  } catch (e) {
    return fail(`cannot reach ${server} (${what}): ${(e as Error).message}`);
  }
  if (review.status === 401) fail(`${server} rejected token id ${id} (HTTP 401): the token has expired or been deleted`);
  if (review.status !== 201 && review.status !== 200) fail(`${server}: SelfSubjectReview with the token: HTTP ${review.status}`);
  const info = (JSON.parse(review.body) as { status?: { userInfo?: { username?: string; groups?: string[] } } }).status?.userInfo ?? {};
  if (info.username !== `system:bootstrap:${id}`) fail(`token id ${id} authenticated as ${info.username ?? 'nobody'}, not system:bootstrap:${id}`);
  if (!info.groups?.includes(NODE_BOOTSTRAP_GROUP)) fail(`token id ${id} is not in group ${NODE_BOOTSTRAP_GROUP} (auth-extra-groups), which kubeadm's RBAC lets join`);
  for (const name of ['kubeadm-config', 'kubelet-config']) {
    const r = await call(`/api/v1/namespaces/kube-system/configmaps/${name}`);
    if (r.status !== 200) fail(`kubeadm join reads kube-system/${name} with the token: HTTP ${r.status}`);
  }
  const access = await call('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    method: 'POST',
    body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { group: 'certificates.k8s.io', resource: 'certificatesigningrequests', verb: 'create' } } },
  });
  const allowed = access.status === 201 && (JSON.parse(access.body) as { status?: { allowed?: boolean } }).status?.allowed === true;
  if (!allowed) fail(`token id ${id} may not create CertificateSigningRequests: the kubelet's TLS bootstrap would fail (kubeadm's kubeadm:kubelet-bootstrap binding is missing)`);
  return { user: info.username!, groups: info.groups!, server };
}

export interface KubeadmJoinValidatorOptions {
  /** Refuse userdata that has no kubeadm join at all (default: accept it; infrastructure-provider tests use such userdata). */
  requireJoin?: boolean;
  timeoutMs?: number;
  /**
   * Where the machine's connections come from: a Dial (e.g. from its network
   * namespace), or why the machine cannot connect yet (the join is refused
   * with that and tried again). Default: from this process.
   */
  dial?: (ctx: ValidatorContext) => Dial | string;
}

/** What the validator is told (kubelet.ts JoinContext has it). */
export interface ValidatorContext {
  cloudConfig: CloudConfig;
  vmi?: { metadata?: { name?: string; namespace?: string } };
}

/**
 * The kubelet simulation's join check: undefined lets the machine register,
 * a string says why it cannot.
 */
export function kubeadmJoinValidator(opts: KubeadmJoinValidatorOptions = {}): (ctx: ValidatorContext) => Promise<string | undefined> {
  return async (ctx) => {
    const { cloudConfig } = ctx;
    const join = findKubeadmJoin(cloudConfig);
    if (!join) return opts.requireJoin ? 'the userdata runs no kubeadm join' : undefined;
    if (!join.runsJoin) return `${join.source} holds a JoinConfiguration, but no command runs kubeadm join --config with it`;
    const hasProviderID = (cloudConfig.write_files ?? []).some((f) => f.path === PROVIDER_ID_PATH);
    if (hasProviderID) {
      const wiring = providerIDWiring(join);
      if (wiring) return wiring;
    }
    const dial = opts.dial?.(ctx);
    if (typeof dial === 'string') return dial;
    try {
      await checkJoin(join, { timeoutMs: opts.timeoutMs ?? 5000, ...(dial ? { dial } : {}) });
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  };
}
