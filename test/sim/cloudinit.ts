// Reading a node's cloud-init userdata the way the machine would: it must be
// a #cloud-config document, files come from write_files (with cloud-init's
// encodings), and the kubeadm join settings from Kairos' provider-kubeadm
// `cluster:` block or a kubeadm JoinConfiguration written to disk.
import { gunzipSync } from 'node:zlib';
import { parse, parseAllDocuments } from 'yaml';

/** Where the infrastructure providers put the providerID for the bootstrap provider to pass on. */
export const PROVIDER_ID_PATH = '/etc/ironplane/provider-id';

export interface WriteFile {
  path: string;
  content?: string;
  encoding?: string;
  permissions?: string;
}

export interface CloudConfig {
  write_files?: WriteFile[];
  /** Kairos provider-kubeadm. */
  cluster?: { cluster_token?: string; control_plane_host?: string; role?: string; config?: string };
  [k: string]: unknown;
}

/** The parsed document, or why it is not usable cloud-config. */
export function parseCloudConfig(text: string): CloudConfig | string {
  const first = text.split('\n', 1)[0]?.trimEnd() ?? '';
  if (first !== '#cloud-config') return `userdata is not cloud-config: its first line is '${first.slice(0, 40)}', not '#cloud-config'`;
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    return `userdata is not valid YAML: ${(e as Error).message.split('\n')[0]}`;
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) return 'userdata is not a YAML mapping';
  const cc = doc as CloudConfig;
  if (cc.write_files !== undefined && !Array.isArray(cc.write_files)) return 'userdata write_files is not a list';
  return cc;
}

/** A write_files entry's content, decoded as cloud-init would (b64, gzip, gz+b64). */
export function fileContent(f: WriteFile): string | undefined {
  const raw = f.content ?? '';
  switch ((f.encoding ?? 'text/plain').toLowerCase()) {
    case 'text/plain':
      return raw;
    case 'b64':
    case 'base64':
      return Buffer.from(raw, 'base64').toString('utf8');
    case 'gz+b64':
    case 'gzip+b64':
    case 'gz+base64':
    case 'gzip+base64':
      try {
        return gunzipSync(Buffer.from(raw, 'base64')).toString('utf8');
      } catch {
        return undefined;
      }
    default:
      return undefined;
  }
}

/** The providerID the userdata carries, or why there is none. */
export function providerIDOf(cc: CloudConfig): { providerID: string } | { why: string } {
  const entries = (cc.write_files ?? []).filter((f) => f.path === PROVIDER_ID_PATH);
  if (entries.length === 0) return { why: `userdata has no write_files entry for ${PROVIDER_ID_PATH}: no providerID, so no Node` };
  // cloud-init writes the entries in order: the last one wins.
  const last = entries[entries.length - 1] as WriteFile;
  const content = fileContent(last);
  if (content === undefined) return { why: `userdata write_files ${PROVIDER_ID_PATH} has an unsupported encoding '${last.encoding ?? ''}'` };
  const providerID = content.trim();
  if (!providerID) return { why: `userdata write_files ${PROVIDER_ID_PATH} is empty` };
  if (!/^[a-z0-9][a-z0-9.+-]*:\/\/\S+$/.test(providerID)) return { why: `providerID '${providerID}' from ${PROVIDER_ID_PATH} is not of the form <provider>://<id>` };
  return { providerID };
}

/** What a kubeadm join needs, wherever the userdata put it. */
export interface JoinConfig {
  /** Where it was found, for messages. */
  source: string;
  /** Bootstrap token, <id>.<secret>. */
  token?: string;
  /** host:port of the tenant apiserver. */
  apiServerEndpoint?: string;
  /** sha256:<hex> pins of the cluster CA's public key. */
  caCertHashes?: string[];
  unsafeSkipCAVerification?: boolean;
}

interface JoinConfiguration {
  kind?: string;
  discovery?: {
    bootstrapToken?: { token?: string; apiServerEndpoint?: string; caCertHashes?: string[]; unsafeSkipCAVerification?: boolean };
    tlsBootstrapToken?: string;
  };
}

function fromKubeadmYaml(text: string, source: string): JoinConfig | undefined {
  for (const d of parseAllDocuments(text)) {
    const obj = d.toJS() as JoinConfiguration | null;
    if (obj?.kind !== 'JoinConfiguration') continue;
    const bt = obj.discovery?.bootstrapToken;
    return {
      source,
      ...(bt?.token ?? obj.discovery?.tlsBootstrapToken ? { token: bt?.token ?? obj.discovery?.tlsBootstrapToken } : {}),
      ...(bt?.apiServerEndpoint ? { apiServerEndpoint: bt.apiServerEndpoint } : {}),
      ...(bt?.caCertHashes ? { caCertHashes: bt.caCertHashes } : {}),
      ...(bt?.unsafeSkipCAVerification !== undefined ? { unsafeSkipCAVerification: bt.unsafeSkipCAVerification } : {}),
    };
  }
  return undefined;
}

/**
 * The join settings in the userdata, if any: Kairos provider-kubeadm's
 * `cluster:` block (with its kubeadm `config`), else the first kubeadm
 * JoinConfiguration among write_files.
 */
export function findJoinConfig(cc: CloudConfig): JoinConfig | undefined {
  if (cc.cluster && typeof cc.cluster === 'object') {
    const fromConfig = typeof cc.cluster.config === 'string' ? fromKubeadmYaml(cc.cluster.config, 'cluster.config') : undefined;
    return {
      source: 'cluster',
      ...fromConfig,
      ...(cc.cluster.cluster_token ? { token: cc.cluster.cluster_token } : {}),
      ...(cc.cluster.control_plane_host && !fromConfig?.apiServerEndpoint ? { apiServerEndpoint: cc.cluster.control_plane_host } : {}),
    };
  }
  for (const f of cc.write_files ?? []) {
    const content = fileContent(f);
    if (!content?.includes('JoinConfiguration')) continue;
    try {
      const found = fromKubeadmYaml(content, `write_files ${f.path}`);
      if (found) return found;
    } catch {
      // Not YAML after all.
    }
  }
  return undefined;
}
