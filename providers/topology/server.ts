// The runtime extension's HTTPS server: routes CAPI's POSTs to the pure
// handlers, gathering the snapshots they need first and applying the one
// side effect (the add-on labels) after.
//
// What CAPI's client expects (internal/runtime/client/client.go httpCall):
// HTTP 200 with a JSON response whose status is Success or Failure; anything
// else is an error that quotes our body. So every request we can read is
// answered 200, with status Failure and a message for malformed JSON, a wrong
// kind or apiVersion, an invalid request, a timeout or an internal error (as
// CAPI's own Go server does for undecodable requests). Requests we cannot
// read get a JSON body with the same fields and a non-200 code: 404 for an
// unknown path, 405 for a method other than POST, 413 above the body cap.
// A handler that throws answers Failure; nothing a request does can end the
// process.
//
// Every request is checked as a whole against its Runtime SDK schema
// (requests.ts: types, required fields, nesting depth, sizes) before a
// handler sees it; a malformed one is a Failure naming the field, logged at
// info. A request is a hint, not the authority: the hooks with side effects
// or answers about a Cluster (AfterControlPlaneInitialized,
// BeforeClusterUpgrade, BeforeClusterDelete) act only on the Cluster as the
// apiserver holds it, with the request's uid, and only when the hook's
// premise holds there (premises.ts); anyone who reaches the port can send a
// request (adr/0007).
import type http from 'node:http';
import { isConflict } from '../kit/client.js';
import type { Logger } from '../kit/log.js';
import {
  failure,
  HOOKS_API_VERSION,
  hookPath,
  requestKind,
  responseKind,
  RETRY_HOOKS,
  type BeforeClusterUpgradeRequest,
  type ClusterRequest,
  type CommonResponse,
  type GeneratePatchesRequest,
  type HookName,
  type RetryResponse,
  type ValidateTopologyRequest,
} from './api.js';
import { afterControlPlaneInitialized } from './handlers/aftercontrolplaneinitialized.js';
import { beforeClusterCreate } from './handlers/beforeclustercreate.js';
import { beforeClusterDelete } from './handlers/beforeclusterdelete.js';
import { beforeClusterUpgrade } from './handlers/beforeclusterupgrade.js';
import { discoverVariables } from './handlers/discovervariables.js';
import { discovery, HANDLERS } from './handlers/discovery.js';
import { generatePatches } from './handlers/generatepatches.js';
import { validateTopology } from './handlers/validatetopology.js';
import type { ErrorReason, ExtensionMetrics, Outcome } from './metrics.js';
import { deletingProblem, initializedProblem, refOf, upgradeProblem } from './premises.js';
import { depthProblem, requestProblem } from './requests.js';
import type { StateSource } from './state.js';
import { builtinsOf, resolveConfig, variableMap, type BaseConfig } from './variables.js';

/** GeneratePatches requests carry every template of a cluster; 3 MiB leaves room for large topologies (the kit's admission cap too). */
export const DEFAULT_MAX_REQUEST_BYTES = 3 * 1024 * 1024;
/** CAPI's default handler timeout (DefaultHandlersTimeoutSeconds), used when a request names none. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** After a 413, how much more of the body (as a multiple of the limit) is read and dropped before the connection is cut. */
const DRAIN_FACTOR = 4;
/** Answer before CAPI gives up, so it reads our message rather than a timeout: this share of its timeout. */
const DEADLINE_SHARE = 0.8;

export interface ExtensionServerOptions {
  base: BaseConfig;
  state: StateSource;
  log: Logger;
  metrics: ExtensionMetrics;
  maxRequestBytes?: number;
  now?: () => Date;
}

type Run = (body: Record<string, unknown>) => CommonResponse | Promise<CommonResponse>;

interface Route {
  hook: HookName;
  run: Run;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Attempts at labelling a Cluster that keeps changing between our read and our write. */
const LABEL_ATTEMPTS = 3;

/** A Go duration as CAPI writes ?timeout= (time.Duration.String(), e.g. "10s", "1m30s", "500ms"), in ms. */
export function parseGoDuration(s: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (units[m[2]!] ?? 0);
  return total;
}

function routes(opts: ExtensionServerOptions): Map<string, Route> {
  const { base, state } = opts;
  const now = opts.now ?? (() => new Date());
  const cluster = (b: Record<string, unknown>) => (b as unknown as ClusterRequest).cluster;
  const gpuClass = (b: Record<string, unknown>) => resolveConfig(base, b['settings'] as Record<string, string> | undefined).config.gpuClass;
  const table: Record<Exclude<HookName, 'Discovery'>, Route> = {
    DiscoverVariables: { hook: 'DiscoverVariables', run: (b) => discoverVariables(b as never) },
    GeneratePatches: { hook: 'GeneratePatches', run: (b) => generatePatches(b as unknown as GeneratePatchesRequest, base) },
    ValidateTopology: {
      hook: 'ValidateTopology',
      run: (b) => {
        const req = b as unknown as ValidateTopologyRequest;
        const c = builtinsOf(variableMap(req.variables)).cluster;
        const tenancy = c?.namespace ? state.tenancy(c.namespace, c.name, gpuClass(b)) : undefined;
        // No tenant label: no quota applies. A tenant we cannot read: the handler reports it when GPUs are asked.
        return validateTopology(req, base, tenancy?.tenant ? tenancy : undefined);
      },
    },
    BeforeClusterCreate: {
      hook: 'BeforeClusterCreate',
      run: (b) => {
        const c = cluster(b);
        return beforeClusterCreate(b as unknown as ClusterRequest, base, state.tenancy(c.metadata.namespace ?? '', c.metadata.name, gpuClass(b)), state.classKinds(c));
      },
    },
    AfterControlPlaneInitialized: {
      hook: 'AfterControlPlaneInitialized',
      run: async (b) => {
        const req = b as unknown as ClusterRequest;
        const ref = refOf(req.cluster);
        let held = await state.heldCluster(ref, initializedProblem);
        // The settings (mandatory add-ons) are the ExtensionConfig's, read where CAPI reads them.
        const settings = await state.hookSettings();
        for (let attempt = 1; ; attempt++) {
          if (held.problem !== undefined) return failure('AfterControlPlaneInitialized', held.problem);
          // The labels follow the Cluster as the apiserver holds it, never the request's copy.
          const trusted: ClusterRequest = { apiVersion: req.apiVersion, kind: req.kind, cluster: held.cluster, ...(settings ? { settings } : {}) };
          const { response, labels } = afterControlPlaneInitialized(trusted);
          if (response.status !== 'Success' || Object.keys(labels).length === 0) return response;
          try {
            await state.labelCluster(held.cluster, labels);
            return response;
          } catch (e) {
            if (isConflict(e) && attempt < LABEL_ATTEMPTS) {
              held = await state.heldCluster(ref, initializedProblem, { live: true });
              continue;
            }
            return failure('AfterControlPlaneInitialized', `labelling Cluster ${ref.namespace}/${ref.name} for its add-ons failed: ${(e as Error).message}`);
          }
        }
      },
    },
    BeforeClusterUpgrade: {
      hook: 'BeforeClusterUpgrade',
      run: async (b) => {
        const req = b as unknown as BeforeClusterUpgradeRequest;
        // Lifecycle hooks get the ExtensionConfig's settings from CAPI; read
        // them where CAPI does, so a request cannot raise the concurrency.
        const settings = await state.hookSettings();
        const { config, problems } = resolveConfig(base, settings);
        if (problems.length) return failure('BeforeClusterUpgrade', `the settings of the extension's ExtensionConfig are invalid: ${problems.join('; ')}`);
        const to = req.toKubernetesVersion;
        const held = await state.heldCluster(refOf(req.cluster), async (c) => upgradeProblem(c, to, await state.controlPlaneVersion(c)));
        if (held.problem !== undefined) return failure('BeforeClusterUpgrade', `${held.problem}: no upgrade slot was taken`);
        const { settings: _untrusted, ...rest } = req;
        const real: BeforeClusterUpgradeRequest = { ...rest, cluster: held.cluster, ...(settings ? { settings } : {}) };
        return state.admitUpgrade(held.cluster, to, config.upgradeConcurrency, (fleet) => beforeClusterUpgrade(real, base, fleet, now()));
      },
    },
    BeforeClusterDelete: {
      hook: 'BeforeClusterDelete',
      run: async (b) => {
        const req = b as unknown as ClusterRequest;
        const held = await state.heldCluster(refOf(req.cluster), deletingProblem);
        if (held.problem !== undefined) return failure('BeforeClusterDelete', held.problem);
        return beforeClusterDelete({ ...req, cluster: held.cluster }, await state.release(held.cluster));
      },
    },
  };
  const map = new Map<string, Route>();
  map.set(hookPath('Discovery'), { hook: 'Discovery', run: () => discovery() });
  for (const h of HANDLERS) map.set(hookPath(h.hook, h.name), table[h.hook]);
  return map;
}

export function extensionHandler(opts: ExtensionServerOptions): http.RequestListener {
  const table = routes(opts);
  const max = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const { metrics } = opts;
  const log = opts.log;

  return (req, res) => {
    const start = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'https://extension');
    const route = table.get(url.pathname);
    const hook = route?.hook ?? 'unknown';
    let done = false;

    const send = (code: number, body: CommonResponse, outcome: Outcome, reason?: ErrorReason) => {
      if (done) return;
      done = true;
      const text = JSON.stringify(body);
      res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.requests.inc({ hook, outcome });
      metrics.duration.observe({ hook }, seconds);
      if (reason) metrics.errors.inc({ hook, reason });
      const fields = { hook, path: url.pathname, code, status: body.status, durationMs: Math.round(seconds * 1e6) / 1e3, ...(body.message ? { message: body.message } : {}) };
      if (reason === 'internal') log.error('runtime hook failed', fields);
      else if (outcome === 'Success') log.debug('runtime hook answered', fields);
      else log.info(outcome === 'Blocking' ? 'runtime hook blocking' : 'runtime hook not answered with Success', fields);
    };
    const hookFailure = (h: HookName | 'unknown', message: string): CommonResponse =>
      h === 'unknown' ? { apiVersion: HOOKS_API_VERSION, kind: 'Status', status: 'Failure', message } : failure(h, message);

    if (!route) {
      req.resume();
      return send(404, hookFailure('unknown', `no runtime hook handler at ${url.pathname}: POST /hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery lists them`), 'Rejected', 'not_found');
    }
    if (req.method !== 'POST') {
      req.resume();
      return send(405, hookFailure(route.hook, `${req.method} is not allowed: runtime hooks are called with POST`), 'Rejected', 'method_not_allowed');
    }
    const tooLarge = () => send(413, hookFailure(route.hook, `request body is larger than the extension's limit of ${max} bytes`), 'Rejected', 'too_large');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (done) {
        // Drop the rest of an oversized body so the client can read our answer, up to a bound.
        if (size > max * DRAIN_FACTOR) req.destroy();
        return;
      }
      if (size > max) {
        chunks.length = 0;
        return tooLarge();
      }
      chunks.push(c);
    });
    req.on('error', (e) => log.debug('request stream failed', { hook, error: e.message }));
    // A declared length above the limit is refused before anything is buffered.
    if (Number(req.headers['content-length'] ?? 0) > max) tooLarge();
    req.on('end', () => {
      if (done) return;
      const text = Buffer.concat(chunks);
      const deep = depthProblem(text);
      if (deep) return send(200, failure(route.hook, `invalid ${requestKind(route.hook)}: ${deep}`), 'Failure', 'invalid_request');
      let body: unknown;
      try {
        body = JSON.parse(text.toString('utf8'));
      } catch (e) {
        return send(200, failure(route.hook, `request body is not valid JSON: ${(e as Error).message}`), 'Failure', 'malformed_json');
      }
      const want = requestKind(route.hook);
      if (!isObject(body) || body['apiVersion'] !== HOOKS_API_VERSION || body['kind'] !== want) {
        const got = isObject(body) ? `${JSON.stringify(body['kind'] ?? null)} of ${JSON.stringify(body['apiVersion'] ?? null)}` : `a JSON ${Array.isArray(body) ? 'array' : typeof body}`;
        return send(200, failure(route.hook, `expected a ${want} of ${HOOKS_API_VERSION} at ${url.pathname}, got ${got}`), 'Failure', 'wrong_kind');
      }
      const invalid = requestProblem(route.hook, body);
      if (invalid) return send(200, failure(route.hook, `invalid ${want}: ${invalid}`), 'Failure', 'invalid_request');

      const timeoutParam = url.searchParams.get('timeout');
      const budget = (timeoutParam ? parseGoDuration(timeoutParam) : undefined) ?? DEFAULT_TIMEOUT_MS;
      const deadline = Math.max(1, Math.floor(budget * DEADLINE_SHARE));
      const timer = setTimeout(() => send(200, failure(route.hook, `the extension did not finish within ${deadline} ms`), 'Failure', 'timeout'), deadline);
      timer.unref();
      const finish = (r: CommonResponse) => {
        clearTimeout(timer);
        const blocking = RETRY_HOOKS.has(route.hook) && r.status === 'Success' && (r as RetryResponse).retryAfterSeconds > 0;
        send(200, r, r.status === 'Failure' ? 'Failure' : blocking ? 'Blocking' : 'Success', r.status === 'Failure' ? 'failure_response' : undefined);
      };
      const fail = (e: unknown) => {
        clearTimeout(timer);
        send(200, failure(route.hook, `internal error in the ${route.hook} handler: ${(e as Error)?.message ?? String(e)}`), 'Failure', 'internal');
      };
      try {
        const out = route.run(body);
        if (out instanceof Promise) out.then(finish, fail);
        else finish(out);
      } catch (e) {
        fail(e);
      }
    });
  };
}

/** The response kind CAPI expects at a path, for clients and tests. */
export { responseKind };
