// Names, labels and paths of what the Kairos bootstrap provider creates, in
// the management cluster and on the node. Deterministic, so that a manager
// that dies mid-way finds its own objects again instead of making new ones.
export const GROUP = 'bootstrap.ironplane.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const KAIROS_CONFIG_FINALIZER = 'kairosconfig.bootstrap.ironplane.dev';

/** Bootstrap data Secrets carry this format (the key CABPK and the infrastructure providers read). */
export const DATA_FORMAT = 'cloud-config';

/** The bootstrap data Secret is named after its KairosConfig (one per Machine). */
export function dataSecretName(kairosConfig: string): string {
  return kairosConfig;
}

/**
 * On bootstrap-token Secrets in the tenant cluster: the uid of the
 * KairosConfig the token was made for. A token without it, or with another
 * uid, is never reused, refreshed or deleted by this provider.
 */
export const TOKEN_OWNER_LABEL = 'bootstrap.ironplane.dev/kairos-config-uid';

/** Paths on the node. /etc/kubernetes survives reboots on Kairos; /etc/ironplane does not. */
export const NODE_PATHS = {
  /** The kubeadm JoinConfiguration; deleted after a successful join (it holds the token). */
  joinConfig: '/etc/kubernetes/ironplane/kubeadm-join.yaml',
  /**
   * kubeadm's discovery kubeconfig when the worker joins through a private
   * control-plane endpoint (file discovery): server and CA, no credentials.
   * Kept after the join: it holds nothing secret.
   */
  discoveryKubeconfig: '/etc/kubernetes/ironplane-discovery.conf',
  /** kubeadm patches directory (JoinConfiguration.patches.directory). */
  patchesDir: '/etc/kubernetes/ironplane/patches',
  /** Written before the join from the providerID file: sets KubeletConfiguration.providerID. */
  providerIDPatch: '/etc/kubernetes/ironplane/patches/kubeletconfiguration+merge.yaml',
  /** Exists once kubeadm join has succeeded: the join never runs twice. */
  joinedSentinel: '/etc/kubernetes/kubelet.conf',
  /** Kairos creates these while running the live installer or the recovery system: no join there. */
  liveMode: '/run/cos/live_mode',
  recoveryMode: '/run/cos/recovery_mode',
} as const;

/** Paths a user's files and extraConfig may not write: they are ours. */
export const RESERVED_DIR = '/etc/kubernetes/ironplane/';
