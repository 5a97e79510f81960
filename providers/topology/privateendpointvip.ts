// The address at which every tenant VPC serves its own hosted control plane
// (adr/0014). Two processes must agree on it: the kubevirt manager serves it
// (IRONPLANE_CP_VIP) and the topology extension writes it into the tenant
// apiserver's certificate SANs (the privateEndpointVIP setting). It lives
// here, beside the IPv4 helpers both already import, so that the extension
// does not load the kubevirt manager's modules for one constant.

/**
 * The VIP when the platform names none: in 198.18.0.0/15 (RFC 2544, for
 * benchmarking, never routed), where no tenant network is expected.
 */
export const DEFAULT_PRIVATE_ENDPOINT_VIP = '198.18.0.1';
