// Validation the CRD schema cannot express: extraConfig is YAML text, so its
// keys are checked here, with the path of each problem named. The admission
// webhook runs these checks on create and update; the reconciler runs them
// again (a webhook can be absent) and reports problems in a condition.
import { posix } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { KairosConfigSpec } from '../api/generated/ironplane/v1alpha1/kairosconfig.js';
import { PROVIDER_ID_FILE } from '../capi/userdata.js';
import { RESERVED_DIR } from './names.js';

/**
 * The largest bootstrap data we write, in bytes. Metal3 (Ironic) and
 * OpenStack-style config drives cap user data at 64 KiB (Nova: 65535 bytes),
 * the smallest limit of the datasources our infrastructure providers use
 * (KubeVirt NoCloud/ConfigDrive volumes from a Secret, Metal3 config drive);
 * 1 KiB of it is left for what the infrastructure provider adds (the
 * providerID file).
 */
export const MAX_DATA_BYTES = 64 * 1024 - 1024;

/** The Kubernetes versions whose kubeadm reads JoinConfiguration v1beta4. */
export const MIN_KUBERNETES_MINOR = 31;

/** Step keys of a Kairos (yip) stage, from yip's schema.Stage. */
export const STEP_KEYS: readonly string[] = [
  'name', 'if', 'after', 'only_os', 'only_os_version', 'only_arch', 'only_service_manager',
  'commands', 'files', 'downloads', 'directories', 'ensure_entities', 'delete_entities', 'dns', 'hostname', 'sysctl',
  'authorized_keys', 'node', 'users', 'modules', 'systemctl', 'environment', 'environment_file', 'packages',
  'unpack_images', 'datasource', 'layout', 'systemd_firstboot', 'timesyncd', 'git',
];

/** Top-level keys extraConfig may set (Kairos agent options, yip stages, cloud-init keys yip supports). */
export const EXTRA_KEYS: readonly string[] = [
  'stages', 'name', 'install', 'reset', 'upgrade', 'bundles', 'debug', 'strict', 'logs', 'cloud-init-paths',
  'fail_on_bundles_errors', 'growpart', 'runcmd', 'write_files', 'ssh_authorized_keys',
];

/** Keys rendered from typed fields: extraConfig may not set them. */
const FROM_FIELDS: Record<string, string> = {
  users: 'spec.users',
  hostname: 'spec.hostname.policy',
  'install.device': 'spec.install.device',
  'install.auto': 'spec.install.auto',
  'install.reboot': 'spec.install.reboot',
  'install.poweroff': 'spec.install.poweroff',
};

/** Keys that select another way of making a cluster. */
const OTHER_DISTRIBUTIONS = new Set(['k3s', 'k3s-agent', 'k0s', 'k0s-worker', 'p2p', 'kubevip', 'cluster']);

/** The node paths Ironplane writes, without a trailing slash: a user's file may not be at, under or above them. */
const RESERVED = [RESERVED_DIR.replace(/\/+$/, ''), PROVIDER_ID_FILE] as const;

/** What the user-data writer does at a path: a directory may sit above a reserved path, a file may not. */
export type PathUse = 'file' | 'directory';

/**
 * Why a node path a user asks to write is refused, or undefined. The path is
 * normalised first, as the node's filesystem will resolve it ("." and ".."
 * segments, repeated slashes), so /etc/kubernetes/x/../ironplane/join.yaml,
 * /etc/ironplane/./provider-id and //etc/kubernetes/ironplane/a all name the
 * reserved paths they resolve to. Then it is compared segment by segment: a
 * path at or under a reserved one is refused, and for a file also one of
 * their parent directories (a file there would stop the directory from being
 * made); /etc/kubernetes/ironplane2 is not reserved.
 */
export function nodePathProblem(p: unknown, use: PathUse = 'file'): string | undefined {
  if (typeof p !== 'string' || p === '') return 'must be an absolute path';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(p)) return 'must not contain control characters (NUL, newline, ...)';
  if (!p.startsWith('/')) return `${JSON.stringify(p)} must be an absolute path`;
  const norm = normalisePath(p);
  const shown = norm === p ? p : `${p} (that is ${norm})`;
  for (const r of RESERVED) {
    if (norm === r || norm.startsWith(`${r}/`)) return `${shown} is written by Ironplane (${RESERVED_DIR}, ${PROVIDER_ID_FILE})`;
    if (use === 'file' && (norm === '/' || r.startsWith(`${norm}/`))) return `${shown} is a directory holding what Ironplane writes (${RESERVED_DIR}, ${PROVIDER_ID_FILE})`;
  }
  return undefined;
}

/** An absolute POSIX path with ".", ".." and repeated or trailing slashes resolved ("/.." is "/"). */
export function normalisePath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

const keyOf = (n: unknown): string => (isScalar(n) ? String(n.value) : String(n));

/** The parsed extraConfig, or problems; an empty text is an empty mapping. */
export function parseExtraConfig(text: string, at = 'spec.extraConfig'): { doc?: Document; problems: string[] } {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0];
    const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    return { problems: [`${at}: not valid YAML${line ? ` (line ${line.line}, column ${line.col})` : ''}: ${what}`] };
  }
  if (doc.contents === null) return { doc, problems: [] };
  if (!isMap(doc.contents)) return { problems: [`${at}: must be a YAML mapping of Kairos cloud-config keys`] };
  return { doc, problems: extraProblems(doc.contents as Node, at) };
}

function extraProblems(root: Node, at: string): string[] {
  const out: string[] = [];
  if (!isMap(root)) return out;
  for (const pair of root.items) {
    const key = keyOf(pair.key);
    const path = `${at}.${key}`;
    if (FROM_FIELDS[key]) out.push(`${path}: set by ${FROM_FIELDS[key]}, not extraConfig`);
    else if (OTHER_DISTRIBUTIONS.has(key)) out.push(`${path}: selects another Kubernetes distribution or cluster provider; this node joins its cluster with kubeadm`);
    else if (!EXTRA_KEYS.includes(key)) out.push(`${path}: unknown key (known: ${EXTRA_KEYS.join(', ')})`);
    else if (key === 'install') out.push(...installProblems(pair.value as Node, path));
    else if (key === 'stages') out.push(...stagesProblems(pair.value as Node, path));
    else if (key === 'write_files') out.push(...filesProblems(pair.value as Node, path));
    else if (key === 'runcmd' && !(isSeq(pair.value) && pair.value.items.every((i) => isScalar(i) && typeof i.value === 'string'))) out.push(`${path}: must be a list of strings`);
  }
  return out;
}

function installProblems(n: Node, at: string): string[] {
  if (!isMap(n)) return [`${at}: must be a mapping`];
  return n.items.flatMap((p) => {
    const k = keyOf(p.key);
    const owner = FROM_FIELDS[`install.${k}`];
    return owner ? [`${at}.${k}: set by ${owner}, not extraConfig`] : [];
  });
}

function filesProblems(n: Node, at: string, use: PathUse = 'file', key = 'path'): string[] {
  if (!isSeq(n)) return [`${at}: must be a list`];
  return n.items.flatMap((f, i) => {
    if (!isMap(f)) return [`${at}[${i}]: must be a mapping`];
    const problem = nodePathProblem(f.get(key), use);
    return problem ? [`${at}[${i}].${key}: ${problem}`] : [];
  });
}

/** A single path-valued step key (git.path, environment_file, dns.path): absent is fine. */
function pathProblems(value: unknown, at: string, use: PathUse = 'file'): string[] {
  if (value === undefined || value === null) return [];
  const problem = nodePathProblem(isScalar(value) ? value.value : value, use);
  return problem ? [`${at}: ${problem}`] : [];
}

/** The step keys that write to the node's filesystem, and how each names its paths. */
function stepPathProblems(step: Node, at: string): string[] {
  if (!isMap(step)) return [];
  const out: string[] = [];
  const list = (key: string, use: PathUse, pathKey = 'path') => {
    const v = step.get(key, true) as Node | undefined;
    if (v !== undefined && v !== null) out.push(...filesProblems(v, `${at}.${key}`, use, pathKey));
  };
  list('files', 'file');
  list('downloads', 'file');
  list('directories', 'directory');
  list('unpack_images', 'directory', 'target');
  out.push(...pathProblems(step.get('environment_file', true), `${at}.environment_file`));
  for (const [key, use] of [['git', 'directory'], ['dns', 'file']] as const) {
    const v = step.get(key, true) as Node | undefined;
    if (isMap(v)) out.push(...pathProblems(v.get('path', true), `${at}.${key}.path`, use));
  }
  return out;
}

function stagesProblems(n: Node, at: string): string[] {
  if (!isMap(n)) return [`${at}: must be a mapping of stage name to a list of steps`];
  const out: string[] = [];
  for (const stage of n.items) {
    const name = keyOf(stage.key);
    const sat = `${at}.${name}`;
    if (!/^[a-z0-9][a-z0-9._<>-]*$/.test(name)) out.push(`${sat}: not a stage name`);
    if (!isSeq(stage.value)) {
      out.push(`${sat}: must be a list of steps`);
      continue;
    }
    stage.value.items.forEach((step, i) => {
      const st = `${sat}[${i}]`;
      if (!isMap(step)) return void out.push(`${st}: a step must be a mapping`);
      for (const p of step.items) {
        const k = keyOf(p.key);
        if (!STEP_KEYS.includes(k)) out.push(`${st}.${k}: unknown step key (known: ${STEP_KEYS.join(', ')})`);
      }
      out.push(...stepPathProblems(step, st));
      const commands = step.get('commands', true) as Node | undefined;
      if (commands !== undefined && !(isSeq(commands) && commands.items.every((c) => isScalar(c) && typeof c.value === 'string'))) out.push(`${st}.commands: must be a list of strings`);
    });
  }
  return out;
}

/** Why a Machine's Kubernetes version cannot be joined with kubeadm v1beta4, or undefined. */
export function kubernetesVersionProblem(version: string | undefined): string | undefined {
  if (version === undefined || version === '') return undefined;
  const m = /^v?(\d+)\.(\d+)\.(\d+)([-+].*)?$/.exec(version);
  if (!m) return `Machine spec.version "${version}" is not a Kubernetes version (vX.Y.Z)`;
  if (Number(m[1]) !== 1 || Number(m[2]) < MIN_KUBERNETES_MINOR) {
    return `Machine spec.version ${version}: kubeadm reads JoinConfiguration kubeadm.k8s.io/v1beta4 from v1.${MIN_KUBERNETES_MINOR} on, and this provider renders no older API; use v1.${MIN_KUBERNETES_MINOR} or newer`;
  }
  return undefined;
}

/**
 * Problems with a spec that the CRD schema cannot find; `at` names its path
 * ("spec" or "spec.template.spec"). The typed files' paths are checked here
 * too, normalised, although the CRD's CEL rules already refuse unnormalised
 * and reserved ones: objects stored before those rules existed are still
 * reconciled.
 */
export function specProblems(spec: KairosConfigSpec | undefined, at = 'spec'): string[] {
  const out: string[] = [];
  (spec?.files ?? []).forEach((f, i) => {
    const problem = nodePathProblem(f.path);
    if (problem) out.push(`${at}.files[${i}].path: ${problem}`);
  });
  if (spec?.extraConfig) out.push(...parseExtraConfig(spec.extraConfig, `${at}.extraConfig`).problems);
  return out;
}
