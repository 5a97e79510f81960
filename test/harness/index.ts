// The local control plane used by integration tests, e2e and `ironplane dev`.
export { startControlPlane, NODE_API_ADDRESS, type ControlPlane, type ControlPlaneOptions } from './controlplane.js';
export {
  createCA,
  createServiceAccountKeyPair,
  issueCert,
  type CertificateAuthority,
  type IssueCertOptions,
  type IssuedCert,
} from './pki.js';
export { loadCRDs, FIELD_MANAGER } from './crds.js';
export { request, waitFor, type ClientCredentials, type HttpResponse } from './http.js';
export {
  startTenantApiServer,
  publishTenantSecrets,
  type TenantPlane,
  type TenantApiServerOptions,
  type PublishTenantSecretsOptions,
} from './tenant.js';
export { freePorts } from './procs.js';
export {
  startCapiManager,
  startKamajiProvider,
  installWebhookConfigurations,
  pointConversionWebhooks,
  type ManagerProcess,
  type CapiManagerOptions,
  type KamajiProviderOptions,
} from './capi.js';
export { startSveltos, type SveltosProcess, type SveltosOptions } from './sveltos.js';
export { startOvn, sweepOvnOrphans, type ExecResult, type ExternalNetwork, type ExternalNetworkOptions, type OvnOptions, type OvnWorld, type PlugOptions } from './ovn.js';
export { startNode, sweepNodeOrphans, NODE_IMAGE, NODE_IP, type NodeOptions, type RealNode } from './node.js';
