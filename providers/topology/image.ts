// Kairos OS images: OCI references whose tag names the Kubernetes version
// baked into the image (kubelet, kubeadm), and the choice of an image for the
// version a machine set runs.
//
// The tag convention: the tag ends with "k8sv<major>.<minor>.<patch>",
// optionally followed by "-<build>", and the marker starts the tag or
// follows a "-". For example
//   quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0
//   registry.example.com/kairos-kubeadm:v3.5.0-k8sv1.35.2-3@sha256:<digest>
// A digest may follow the tag; the tag is still what is read.

/** An OCI reference with a mandatory tag and an optional sha256 digest (RE2- and JS-compatible). */
export const OCI_REFERENCE_PATTERN =
  '^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]+)?/)?[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[a-f0-9]{64})?$';

const OCI_REFERENCE = new RegExp(OCI_REFERENCE_PATTERN);
const K8S_IN_TAG = /(?:^|-)k8sv(\d+)\.(\d+)\.(\d+)(?:-[A-Za-z0-9_.]+)?$/;
const VERSION = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/;

export interface Version {
  major: number;
  minor: number;
  patch: number;
}

export interface KairosImage {
  ref: string;
  /** The Kubernetes version named by the tag. */
  kubernetes: Version;
}

export function parseVersion(s: string): Version | undefined {
  const m = VERSION.exec(s);
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : undefined;
}

export const formatVersion = (v: Version): string => `v${v.major}.${v.minor}.${v.patch}`;

/** Parses an image reference, or says what is wrong with it. */
export function parseKairosImage(ref: string): KairosImage | string {
  if (!OCI_REFERENCE.test(ref)) return `"${ref}" is not an OCI image reference with a tag (registry/repository:tag[@sha256:digest])`;
  const withoutDigest = ref.split('@')[0] ?? ref;
  const tag = withoutDigest.slice(withoutDigest.lastIndexOf(':') + 1);
  const m = K8S_IN_TAG.exec(tag);
  if (!m) return `"${ref}" has no Kubernetes version in its tag: the tag must end with k8sv<major>.<minor>.<patch>, e.g. ...-k8sv1.35.0`;
  return { ref, kubernetes: { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } };
}

/**
 * The image for machines running Kubernetes `version`: same major and minor,
 * the highest patch not newer than the version (a kubelet must not be newer
 * than the control plane). Undefined when no image fits.
 */
export function imageFor(images: readonly KairosImage[], version: Version): KairosImage | undefined {
  let best: KairosImage | undefined;
  for (const image of images) {
    const k = image.kubernetes;
    if (k.major !== version.major || k.minor !== version.minor || k.patch > version.patch) continue;
    if (!best || k.patch > best.kubernetes.patch) best = image;
  }
  return best;
}

/** The reference without its registry-independent parts changed: "oci://" for Metal3, "docker://" for CDI. */
export const withScheme = (scheme: 'oci' | 'docker', ref: string): string => `${scheme}://${ref}`;
