// The schema of kubeadm's JoinConfiguration, kubeadm.k8s.io/v1beta4
// (Kubernetes >= 1.31), as written in cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go
// of the pinned k8s.io/kubernetes, with kubeadm's own token, endpoint and pin
// formats. Unknown fields are errors, as kubeadm's strict decoding makes them.
// Every rendered JoinConfiguration is checked against it before it leaves
// the provider; the integration tests also run the real `kubeadm config
// validate` on golden output.
import { Ajv, type ErrorObject } from 'ajv';
import { formatErrors } from '../api/validate.js';

const duration = { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$' };

const taint = {
  type: 'object',
  additionalProperties: false,
  required: ['key', 'effect'],
  properties: {
    key: { type: 'string', minLength: 1, maxLength: 316 },
    value: { type: 'string', maxLength: 63 },
    effect: { enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] },
    timeAdded: { type: 'string' },
  },
};

export const JOIN_CONFIGURATION_V1BETA4_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'discovery'],
  properties: {
    apiVersion: { const: 'kubeadm.k8s.io/v1beta4' },
    kind: { const: 'JoinConfiguration' },
    dryRun: { type: 'boolean' },
    nodeRegistration: {
      type: 'object',
      additionalProperties: false,
      properties: {
        name: { type: 'string', maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' },
        criSocket: { type: 'string', pattern: '^(unix|npipe)://' },
        taints: { type: ['array', 'null'], items: taint },
        kubeletExtraArgs: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'value'],
            properties: { name: { type: 'string', minLength: 1 }, value: { type: 'string' } },
          },
        },
        ignorePreflightErrors: { type: 'array', items: { type: 'string', minLength: 1 } },
        imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
        imagePullSerial: { type: 'boolean' },
      },
    },
    caCertPath: { type: 'string' },
    discovery: {
      type: 'object',
      additionalProperties: false,
      properties: {
        bootstrapToken: {
          type: 'object',
          additionalProperties: false,
          required: ['token'],
          properties: {
            token: { type: 'string', pattern: '^[a-z0-9]{6}\\.[a-z0-9]{16}$' },
            apiServerEndpoint: { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$' },
            caCertHashes: { type: 'array', items: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' } },
            unsafeSkipCAVerification: { type: 'boolean' },
          },
          // kubeadm refuses token discovery that neither pins the CA nor says it will not.
          anyOf: [{ required: ['caCertHashes'], properties: { caCertHashes: { minItems: 1 } } }, { required: ['unsafeSkipCAVerification'], properties: { unsafeSkipCAVerification: { const: true } } }],
        },
        file: {
          type: 'object',
          additionalProperties: false,
          required: ['kubeConfigPath'],
          // A file on the node or an https URL: kubeadm refuses any other scheme.
          properties: { kubeConfigPath: { type: 'string', pattern: '^(https://.+|(?![A-Za-z][A-Za-z0-9+.-]*:).+)$' } },
        },
        tlsBootstrapToken: { type: 'string', pattern: '^[a-z0-9]{6}\\.[a-z0-9]{16}$' },
      },
      oneOf: [{ required: ['bootstrapToken'] }, { required: ['file'] }],
    },
    controlPlane: {
      type: 'object',
      additionalProperties: false,
      properties: {
        localAPIEndpoint: {
          type: 'object',
          additionalProperties: false,
          properties: { advertiseAddress: { type: 'string' }, bindPort: { type: 'integer', minimum: 0, maximum: 65535 } },
        },
        certificateKey: { type: 'string' },
      },
    },
    skipPhases: { type: 'array', items: { type: 'string', minLength: 1 } },
    patches: { type: 'object', additionalProperties: false, properties: { directory: { type: 'string', pattern: '^/' } } },
    timeouts: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(['controlPlaneComponentHealthCheck', 'kubeletHealthCheck', 'kubernetesAPICall', 'etcdAPICall', 'tlsBootstrap', 'discovery', 'upgradeManifests'].map((k) => [k, duration])),
    },
  },
} as const;

const compiled = new Ajv({ allErrors: true, strict: false }).compile(JOIN_CONFIGURATION_V1BETA4_SCHEMA);

/** Problems with a parsed JoinConfiguration, one line each ("<path> <message>"); empty when valid. */
export function joinConfigurationProblems(obj: unknown): string[] {
  if (compiled(obj)) return [];
  return formatErrors(compiled.errors as ErrorObject[]);
}
