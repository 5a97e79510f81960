// Prometheus metrics of the tenant cloud provider, on the manager's registry.
import { Counter, Gauge, type Registry } from 'prom-client';

export class CloudMetrics {
  readonly allocations: Counter<'pool'>;
  readonly releases: Counter<'pool'>;
  readonly refusals: Counter<'reason'>;
  readonly capacity: Gauge<'pool'>;
  readonly allocated: Gauge<'pool'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.allocations = new Counter({ name: 'ironplane_cloudprovider_allocations_total', help: 'Load-balancer addresses taken from a pool for a tenant Service.', labelNames: ['pool'], registers });
    this.releases = new Counter({ name: 'ironplane_cloudprovider_releases_total', help: 'Load-balancer addresses given back to their pool.', labelNames: ['pool'], registers });
    this.refusals = new Counter({ name: 'ironplane_cloudprovider_refusals_total', help: 'Tenant Services refused an address, by reason (AddressNotAllowed, AddressTaken, PoolExhausted, TenantLimitReached, ...).', labelNames: ['reason'], registers });
    this.capacity = new Gauge({ name: 'ironplane_cloudprovider_pool_capacity', help: 'Addresses a LoadBalancerPool holds.', labelNames: ['pool'], registers });
    this.allocated = new Gauge({ name: 'ironplane_cloudprovider_pool_allocated', help: 'Addresses of a LoadBalancerPool held by tenant Services.', labelNames: ['pool'], registers });
  }
}
