// Certificates for the local control plane: a cluster CA, serving and client
// certificates signed by it, and the service-account key pair. ECDSA P-256
// keeps generation fast (RSA-2048 would cost ~100 ms per key) and every
// Kubernetes component accepts it.
// @peculiar/x509 2.x resolves its algorithms through tsyringe, which refuses to
// load without a Reflect metadata polyfill; it must be imported first.
import 'reflect-metadata';
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

// Point @peculiar/x509 at Node's webcrypto explicitly instead of relying on
// whatever globalThis.crypto happens to be in the current runtime.
x509.cryptoProvider.set(webcrypto);

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

export interface IssuedCert {
  certPem: string;
  /** PKCS#8 private key ("BEGIN PRIVATE KEY"); Go's keyutil and Node's tls both accept it. */
  keyPem: string;
}

export interface IssueCertOptions {
  ca: CertificateAuthority;
  commonName: string;
  /** Subject O values; Kubernetes maps them to groups (e.g. system:masters). */
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  usages: 'server' | 'client' | 'both';
  /** Validity in days (default 365). */
  days?: number;
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** The CA key comes back as PEM so callers can persist it; re-import it to sign. */
async function importPrivateKey(keyPem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(keyPem);
  return webcrypto.subtle.importKey('pkcs8', der, EC_KEY, false, ['sign']);
}

// Backdate by an hour so small clock differences never make a fresh cert "not yet valid".
function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - 60 * 60 * 1000), notAfter: new Date(now + days * DAY_MS) };
}

/** Creates a self-signed CA (valid 10 years) that may sign leaf certificates. */
export async function createCA(commonName: string): Promise<CertificateAuthority> {
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [commonName] }],
    keys,
    signingAlgorithm: SIGNING,
    ...validity(3650),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Issues a leaf certificate signed by `ca`. */
export async function issueCert(opts: IssueCertOptions): Promise<IssuedCert> {
  const caCert = new x509.X509Certificate(opts.ca.certPem);
  const caKey = await importPrivateKey(opts.ca.keyPem);
  const keys = await newKeyPair();

  const ekus: string[] = [];
  if (opts.usages !== 'client') ekus.push(x509.ExtendedKeyUsage.serverAuth);
  if (opts.usages !== 'server') ekus.push(x509.ExtendedKeyUsage.clientAuth);

  const sans: x509.JsonGeneralNames = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => {
      if (!isIP(value)) throw new Error(`issueCert: '${value}' is not an IP address`);
      return { type: 'ip' as const, value };
    }),
  ];

  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension(ekus),
    await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
  ];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans));

  // One RDN per attribute: Go's pkix.Name collects every O into Organization.
  const subject: x509.JsonName = [
    ...(opts.organizations ?? []).map((o) => ({ O: [o] })),
    { CN: [opts.commonName] },
  ];

  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: caCert.subject,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    ...validity(opts.days ?? 365),
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Key pair that signs (private) and verifies (public) service-account tokens. */
export function createServiceAccountKeyPair(): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

/**
 * The serving certificate of a local kube-apiserver: loopback, the in-cluster
 * names, the Service IP and `extraSANs` (IP addresses as IP SANs, the rest as
 * DNS names).
 */
export function issueApiServerCert(ca: CertificateAuthority, serviceIP: string, extraSANs: readonly string[] = []): Promise<IssuedCert> {
  const extraIPs = extraSANs.filter((s) => isIP(s) !== 0);
  return issueCert({
    ca,
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', ...extraSANs.filter((s) => isIP(s) === 0)],
    ipAddresses: ['127.0.0.1', serviceIP, ...extraIPs],
    usages: 'server',
  });
}
