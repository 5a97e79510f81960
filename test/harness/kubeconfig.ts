// Writes self-contained kubeconfig files (certificates embedded as data, so
// the file stays valid wherever it is copied).
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

/** A client certificate and key, or a bearer token (e.g. a ServiceAccount's). */
export type KubeconfigCredentials = { certPem: string; keyPem: string } | { token: string };

export type KubeconfigSpec = KubeconfigCredentials & {
  server: string;
  caPem: string;
  /** Cluster and context name (what `kubectl config use-context` takes). */
  name: string;
  user: string;
};

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

export function renderKubeconfig(spec: KubeconfigSpec): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: spec.name, cluster: { server: spec.server, 'certificate-authority-data': b64(spec.caPem) } }],
    users: [
      {
        name: spec.user,
        user: 'token' in spec ? { token: spec.token } : { 'client-certificate-data': b64(spec.certPem), 'client-key-data': b64(spec.keyPem) },
      },
    ],
    contexts: [{ name: spec.name, context: { cluster: spec.name, user: spec.user } }],
    'current-context': spec.name,
    preferences: {},
  });
}

export function writeKubeconfig(path: string, spec: KubeconfigSpec): void {
  // 0600: it holds a system:masters key.
  writeFileSync(path, renderKubeconfig(spec), { mode: 0o600 });
}
