// Prometheus metrics of the runtime extension, per hook, registered on the
// process's registry (the kit's, which adds process and REST client metrics).
// No module-global state. Names follow Prometheus conventions under
// the ironplane_runtime_extension_ prefix; CAPI's own client-side metrics
// (capi_runtime_sdk_*) measure the same calls from the caller's side.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Outcome of a request: Success, Blocking (Success with retryAfterSeconds > 0), Failure, or Rejected (answered without calling a handler, non-200). */
export type Outcome = 'Success' | 'Blocking' | 'Failure' | 'Rejected';

/** Why a request did not succeed. */
export type ErrorReason = 'not_found' | 'method_not_allowed' | 'too_large' | 'malformed_json' | 'wrong_kind' | 'invalid_request' | 'timeout' | 'internal' | 'failure_response';

export class ExtensionMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'hook' | 'outcome'>;
  readonly errors: Counter<'hook' | 'reason'>;
  readonly duration: Histogram<'hook'>;

  constructor(opts: { processMetrics?: boolean; registry?: Registry } = {}) {
    this.registry = opts.registry ?? new Registry();
    const registers = [this.registry];
    this.requests = new Counter({ name: 'ironplane_runtime_extension_requests_total', help: 'Runtime extension requests by hook and outcome (Success, Blocking, Failure, Rejected).', labelNames: ['hook', 'outcome'], registers });
    this.errors = new Counter({ name: 'ironplane_runtime_extension_errors_total', help: 'Runtime extension requests that did not succeed, by hook and reason.', labelNames: ['hook', 'reason'], registers });
    this.duration = new Histogram({
      name: 'ironplane_runtime_extension_request_duration_seconds',
      help: 'Time from the first byte of a request to the end of its response, by hook.',
      labelNames: ['hook'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }
}
