// Pure rendering of a KairosConfig into bootstrap data: a Kairos cloud-config
// (#cloud-config, yip stages) that installs the OS and runs kubeadm join with
// a v1beta4 JoinConfiguration. No I/O happens per render: the reconciler
// resolves the token, CA, endpoint and referenced file contents first.
//
// The text comes from handlebars templates under templates/bootstrap (one
// partial per part of the document). Every value reaches the YAML through a
// helper that quotes it as YAML requires (`q`), writes a literal block
// (`block`) or an octal mode (`mode`), so no input can change the document's
// structure; the result is parsed again and the JoinConfiguration checked
// against its schema before it is returned.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { isMap, isSeq, parse, parseDocument, stringify, type Document, type Node, type YAMLMap } from 'yaml';
import type { KairosConfigSpec } from '../api/generated/ironplane/v1alpha1/kairosconfig.js';
import { hostnameFor } from '../capi/contract.js';
import { PROVIDER_ID_FILE } from '../capi/userdata.js';
import { joinConfigurationProblems } from './joinschema.js';
import { NODE_PATHS } from './names.js';
import { MAX_DATA_BYTES, parseExtraConfig } from './validate.js';

/** A file of spec.files with its content resolved (inline text, or a referenced value as base64). */
export interface ResolvedFile {
  path: string;
  permissions: string;
  owner: number;
  group: number;
  content?: string;
  base64?: string;
}

export interface RenderInput {
  namespace: string;
  /** The KairosConfig's name. */
  config: string;
  cluster: string;
  machine: string;
  /** Machine spec.infrastructureRef.name, for hostname policy InfraMachineName. */
  infraMachine?: string;
  spec: KairosConfigSpec;
  /** spec.files in order, contents resolved. */
  files: ResolvedFile[];
  /**
   * The tenant API server as the worker reaches it: Cluster
   * spec.controlPlaneEndpoint, or the private control-plane endpoint of the
   * worker's VPC (then with discoveryCA).
   */
  endpoint: { host: string; port: number };
  /** <id>.<secret> */
  token: string;
  /** sha256:<hex> pins of the tenant CA's public keys (bootstrap-token discovery). */
  caCertHashes: string[];
  /**
   * The tenant CA's certificates (PEM, no key), when `endpoint` is a private
   * control-plane endpoint (adr/0014). kubeadm then discovers through a
   * kubeconfig file naming `endpoint` and this CA, and authenticates with the
   * token as tlsBootstrapToken: with bootstrap-token discovery it would go on
   * to the server the tenant's cluster-info names (the public endpoint, which
   * the worker's VPC has no route to) for the TLS bootstrap and kubelet.conf;
   * with file discovery the whole join and kubelet.conf use the file's server.
   */
  discoveryCA?: string;
}

export interface Rendered {
  /** The bootstrap data: the Secret's `value`. */
  value: string;
  /** The kubeadm JoinConfiguration inside it. */
  joinConfiguration: string;
  /** The Node name kubeadm registers, when the hostname policy sets one. */
  nodeName?: string;
}

/** Input the renderer refuses, with the reason (a condition message). */
export class RenderError extends Error {
  constructor(
    readonly reason: 'InvalidSpec' | 'DataSecretTooLarge',
    message: string,
  ) {
    super(message);
    this.name = 'RenderError';
  }
}

export type Renderer = (input: RenderInput) => Rendered;

/** templates/bootstrap of this checkout or package (found from this module, in providers/ or dist/providers/). */
export function defaultTemplatesDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find templates/bootstrap: no package.json above the kairos provider');
    dir = up;
  }
  return path.join(dir, 'templates', 'bootstrap');
}

/** The endpoint as kubeadm wants it: host:port, IPv6 in brackets. */
export function endpointString(e: { host: string; port: number }): string {
  return `${e.host.includes(':') && !e.host.startsWith('[') ? `[${e.host}]` : e.host}:${e.port}`;
}

/** A one-line YAML scalar for any string, number or boolean (quoted when YAML needs it). */
export function yamlScalar(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v !== 'string') throw new Error(`template bug: q needs a string, got ${typeof v}`);
  if (/[\n\r]/.test(v)) throw new Error('template bug: q needs a single line; use block');
  return stringify(v, { lineWidth: 0 }).replace(/\n$/, '');
}

/**
 * A YAML literal block for multi-line text, its lines indented by `indent`
 * spaces. Falls back to a double-quoted scalar for text a literal block
 * cannot carry as is (a leading space, control characters).
 */
export function yamlBlock(text: string, indent: number): string {
  if (text === '' || /^[ \t\n]/.test(text) || hasControlCharacters(text)) return JSON.stringify(text);
  const trailing = /\n*$/.exec(text)![0].length;
  const chomp = trailing === 0 ? '-' : trailing === 1 ? '' : '+';
  const body = trailing > 0 ? text.slice(0, text.length - 1) : text;
  const pad = ' '.repeat(indent);
  return `|${chomp}\n${body
    .split('\n')
    .map((l) => (l === '' ? '' : pad + l))
    .join('\n')}`;
}

/** Characters a literal block cannot carry: controls other than tab and newline (carriage return included). */
function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || c === 0x7f) return true;
  }
  return false;
}

/** An octal mode ("0600") as yip reads it: a decimal integer, with the octal form as a comment. */
export function yamlMode(mode: string): string {
  if (!/^0?[0-7]{3}$/.test(mode)) throw new Error(`invalid file mode "${mode}"`);
  return `${parseInt(mode, 8)} # ${mode.padStart(4, '0')}`;
}

/** The shell test that runs the join once: on the installed system, before any successful join. */
export const JOIN_GUARD = `[ ! -e ${NODE_PATHS.joinedSentinel} ] && [ ! -e ${NODE_PATHS.liveMode} ] && [ ! -e ${NODE_PATHS.recoveryMode} ]`;

/** Compiles the templates in `dir` (once, at start-up) into a pure render function. */
export function createRenderer(dir: string = defaultTemplatesDir()): Renderer {
  const hb = Handlebars.create();
  hb.registerHelper('q', (v: unknown) => yamlScalar(v));
  hb.registerHelper('block', (v: unknown, indent: unknown) => yamlBlock(String(v), Number(indent)));
  hb.registerHelper('mode', (v: unknown) => yamlMode(String(v)));
  const partials = path.join(dir, 'partials');
  for (const f of fs.readdirSync(partials).filter((n) => n.endsWith('.hbs')).sort()) {
    hb.registerPartial(path.basename(f, '.hbs'), fs.readFileSync(path.join(partials, f), 'utf8'));
  }
  const compile = (name: string) => hb.compile(fs.readFileSync(path.join(dir, name), 'utf8'), { noEscape: true, strict: true });
  const worker = compile('kairos-worker.cloud-config.hbs');
  const joinConfig = compile('kubeadm-join-v1beta4.yaml.hbs');
  const joinScript = compile('join-script.sh.hbs');
  const discoveryKubeconfig = compile('discovery-kubeconfig.yaml.hbs');

  return (input: RenderInput): Rendered => {
    const s = input.spec;
    const nodeName = nodeNameFor(input);
    const labels = Object.entries(s.nodeLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const discovery =
      input.discoveryCA === undefined
        ? null
        : {
            path: NODE_PATHS.discoveryKubeconfig,
            kubeconfig: discoveryKubeconfig({ server: `https://${endpointString(input.endpoint)}`, caData: Buffer.from(input.discoveryCA, 'utf8').toString('base64') }),
          };
    const joinConfiguration = joinConfig({
      endpoint: endpointString(input.endpoint),
      token: input.token,
      caCertHashes: input.caCertHashes,
      discoveryFile: discovery?.path ?? null,
      nodeName: nodeName ?? null,
      kubeletExtraArgs: [...(labels.length ? [{ name: 'node-labels', value: labels.map(([k, v]) => `${k}=${v}`).join(',') }] : []), ...(s.kubelet?.extraArgs ?? [])],
      taints: (s.taints ?? []).map((t) => ({ key: t.key, value: t.value ?? null, effect: t.effect })),
      ignorePreflightErrors: s.join?.ignorePreflightErrors ?? [],
      patchesDir: NODE_PATHS.patchesDir,
    });
    const problems = joinConfigurationProblems(parse(joinConfiguration));
    if (problems.length) throw new RenderError('InvalidSpec', `the kubeadm JoinConfiguration would be invalid: ${problems.join('; ')}`);

    const script = joinScript({
      preJoinCommands: s.preJoinCommands ?? [],
      postJoinCommands: s.postJoinCommands ?? [],
      providerIDFile: PROVIDER_ID_FILE,
      providerIDPatch: NODE_PATHS.providerIDPatch,
      patchesDir: NODE_PATHS.patchesDir,
      configPath: NODE_PATHS.joinConfig,
    });
    const initramfs = [
      ...(nodeName ? [{ partial: 'hostname', hostname: nodeName }] : []),
      ...(s.ntp?.servers.length ? [{ partial: 'ntp', servers: s.ntp.servers.join(' '), fallback: s.ntp.fallbackServers?.join(' ') || null }] : []),
    ];
    let value = worker({
      machine: { namespace: input.namespace, name: input.machine, cluster: input.cluster, config: input.config },
      install: {
        device: s.install?.device ?? 'auto',
        auto: s.install?.auto ?? true,
        reboot: s.install?.reboot ?? true,
        poweroff: s.install?.poweroff ?? false,
      },
      users: (s.users ?? []).map((u) => ({
        name: u.name,
        groups: u.groups ?? [],
        shell: u.shell ?? null,
        passwordHash: u.passwordHash ?? null,
        lockPassword: u.lockPassword ?? false,
        sshAuthorizedKeys: u.sshAuthorizedKeys ?? [],
      })),
      initramfs,
      files: input.files.map((f) => ({ path: f.path, permissions: f.permissions, owner: f.owner, group: f.group, content: f.content ?? '', base64: f.base64 ?? null })),
      join: { guard: JOIN_GUARD, configPath: NODE_PATHS.joinConfig, configuration: joinConfiguration, discovery, script },
    });

    if (s.extraConfig) value = mergeExtraConfig(value, s.extraConfig);
    const doc = parseDocument(value);
    if (doc.errors.length) throw new Error(`template bug: rendered cloud-config does not parse: ${doc.errors[0]!.message}`);
    const bytes = Buffer.byteLength(value);
    if (bytes > MAX_DATA_BYTES) {
      throw new RenderError('DataSecretTooLarge', `bootstrap data is ${bytes} bytes, over the ${MAX_DATA_BYTES}-byte limit for the target datasource (64 KiB of cloud-init user data on a config drive, less 1 KiB for the infrastructure provider); move large files into the image or fetch them in preJoinCommands`);
    }
    return { value, joinConfiguration, ...(nodeName ? { nodeName } : {}) };
  };
}

/** The Node name the hostname policy gives, or undefined for System (kubeadm uses the OS hostname). */
export function nodeNameFor(input: Pick<RenderInput, 'machine' | 'infraMachine' | 'spec'>): string | undefined {
  switch (input.spec.hostname?.policy ?? 'MachineName') {
    case 'System':
      return undefined;
    case 'InfraMachineName':
      return hostnameFor(input.infraMachine ?? input.machine);
    default:
      return hostnameFor(input.machine);
  }
}

/**
 * Merges extraConfig into the rendered document: its stages' steps run after
 * ours in each stage, its install keys join ours, other keys are added.
 * extraConfig was validated (validate.ts) before this is called.
 */
function mergeExtraConfig(rendered: string, extra: string): string {
  const { doc: extraDoc, problems } = parseExtraConfig(extra);
  if (problems.length) throw new RenderError('InvalidSpec', problems.join('; '));
  if (!extraDoc || !isMap(extraDoc.contents)) return rendered;
  const doc = parseDocument(rendered);
  for (const pair of (extraDoc.contents as YAMLMap).items) {
    const key = String((pair.key as { value?: unknown }).value ?? pair.key);
    const value = pair.value as Node;
    if (key === 'stages' && isMap(value)) {
      for (const stage of value.items) {
        const name = String((stage.key as { value?: unknown }).value ?? stage.key);
        const ours = doc.getIn(['stages', name], true);
        if (isSeq(ours) && isSeq(stage.value)) for (const step of stage.value.items) ours.items.push(copyNode(doc, extraDoc, step));
        else doc.setIn(['stages', name], copyNode(doc, extraDoc, stage.value));
      }
    } else if (key === 'install' && isMap(value)) {
      for (const p of value.items) doc.setIn(['install', (p.key as { value?: unknown }).value ?? p.key], copyNode(doc, extraDoc, p.value));
    } else {
      doc.set(key, copyNode(doc, extraDoc, value));
    }
  }
  return doc.toString({ lineWidth: 0 });
}

function copyNode(into: Document, from: Document, n: unknown): Node {
  const js = n !== null && typeof n === 'object' && 'toJS' in n ? (n as { toJS(doc: Document): unknown }).toJS(from) : n;
  return into.createNode(js) as Node;
}
