// A typed client for any resource, including custom resources and their
// status subresource. client-node provides the kubeconfig handling (certs,
// tokens, exec plugins); the requests themselves are plain HTTPS so that
// every verb the providers need (merge patch, JSON patch, server-side apply,
// status) works the same for every kind, with a timeout on every call.
import https from 'node:https';
import http from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { apiVersionOf, type KubeObject, type ResourceType } from './types.js';

/** A Kubernetes API error, carrying the HTTP code and the Status reason. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** An apiserver that cannot be reached at all (refused, reset, timed out). */
export class UnreachableError extends Error {
  constructor(
    readonly server: string,
    cause: Error,
  ) {
    super(`cannot reach the Kubernetes API at ${server}: ${cause.message}`, { cause });
    this.name = 'UnreachableError';
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.code === 409 && e.reason === 'Conflict';
export const isAlreadyExists = (e: unknown): boolean => e instanceof ApiError && e.code === 409 && e.reason === 'AlreadyExists';
export const isGone = (e: unknown): boolean => e instanceof ApiError && e.code === 410;
export const isInvalid = (e: unknown): boolean => e instanceof ApiError && e.code === 422;

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; the client follows continue tokens until the list is complete. */
  limit?: number;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export interface WriteOptions {
  subresource?: 'status';
  dryRun?: boolean;
  /**
   * How the apiserver treats unknown and duplicate fields. Unset leaves the
   * server's default (Warn: accepted, unknown fields dropped); Strict refuses
   * the write with a message naming the field.
   */
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
}

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

interface RequestOptions {
  method: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

export interface ClientOptions {
  /** Field manager for every write; server-side apply requires one. */
  fieldManager: string;
  /** Per-request timeout; a hung apiserver must not hang a reconcile. */
  timeoutMs?: number;
  userAgent?: string;
  /** Called after every request with its verb and HTTP code (0 when unreachable), e.g. for metrics. */
  onRequest?: (method: string, code: number) => void;
}

/** Connection details resolved from the kubeconfig, refreshed periodically. */
interface Transport {
  agent: https.Agent | http.Agent;
  headers: Record<string, string>;
  expires: number;
}

const TRANSPORT_TTL_MS = 60_000;

export class Client {
  readonly server: string;
  private transport?: Promise<Transport>;

  constructor(
    readonly kubeConfig: KubeConfig,
    private readonly opts: ClientOptions,
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster: set current-context');
    this.server = cluster.server.replace(/\/+$/, '');
  }

  get fieldManager(): string {
    return this.opts.fieldManager;
  }

  /** The kubeconfig user's credentials and TLS settings, as request options. */
  private async resolveTransport(): Promise<Transport> {
    const opts: https.RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k] = v;
    if (opts.auth) headers['Authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    const tls = {
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
      ...(opts.servername ? { servername: opts.servername } : {}),
    };
    const agent = this.server.startsWith('https:')
      ? new https.Agent({ keepAlive: true, maxSockets: 32, ...tls })
      : new http.Agent({ keepAlive: true, maxSockets: 32 });
    return { agent, headers, expires: Date.now() + TRANSPORT_TTL_MS };
  }

  private async getTransport(): Promise<Transport> {
    const current = this.transport ? await this.transport : undefined;
    if (current && current.expires > Date.now()) return current;
    current?.agent.destroy();
    this.transport = this.resolveTransport();
    return this.transport;
  }

  /** Releases pooled connections. */
  close(): void {
    void this.transport?.then((t) => t.agent.destroy());
    this.transport = undefined;
  }

  /** Path of a collection or, with name, of one object. */
  path(rt: ResourceType, namespace?: string, name?: string, subresource?: string): string {
    const base = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
    const ns = rt.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    const obj = name ? `/${encodeURIComponent(name)}` : '';
    const sub = subresource ? `/${subresource}` : '';
    return `${base}${ns}/${rt.plural}${obj}${sub}`;
  }

  async request<T>(req: RequestOptions): Promise<T> {
    const t = await this.getTransport();
    const url = new URL(this.server + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers: Record<string, string> = {
      ...t.headers,
      Accept: 'application/json',
      'User-Agent': this.opts.userAgent ?? 'ironplane',
      // An explicit length: Node sends a DELETE body with neither a length
      // nor chunking, which corrupts the next request on a kept-alive socket.
      ...(body !== undefined ? { 'Content-Type': req.contentType ?? 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } : {}),
    };
    const timeoutMs = req.timeoutMs ?? this.opts.timeoutMs ?? 30_000;
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      // The socket timeout covers an idle connection only; this deadline
      // covers the whole call: waiting for a pooled socket, a response that
      // trickles, a body that never ends. A call always settles.
      const deadline = setTimeout(() => r.destroy(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
      const r = mod.request(url, { method: req.method, headers, agent: t.agent, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new UnreachableError(this.server, e)));
        // A connection closed mid-body: 'end' never comes.
        res.on('close', () => {
          clearTimeout(deadline);
          if (!res.complete) reject(new UnreachableError(this.server, new Error('the connection closed before the response was complete')));
        });
        res.on('end', () => {
          clearTimeout(deadline);
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          this.opts.onRequest?.(req.method, code);
          if (code >= 200 && code < 300) {
            try {
              resolve((text ? JSON.parse(text) : {}) as T);
            } catch {
              reject(new ApiError(code, 'BadResponse', `${req.method} ${req.path}: response is not JSON`));
            }
            return;
          }
          reject(toApiError(code, text, req));
        });
      });
      r.on('timeout', () => r.destroy(new Error(`no response within ${timeoutMs} ms`)));
      r.on('error', (e) => {
        clearTimeout(deadline);
        this.opts.onRequest?.(req.method, 0);
        reject(new UnreachableError(this.server, e));
      });
      r.end(body);
    });
  }

  get<T extends KubeObject>(rt: ResourceType, name: string, namespace?: string): Promise<T> {
    return this.request<T>({ method: 'GET', path: this.path(rt, namespace, name) });
  }

  /** Like get, but undefined when the object does not exist. */
  async tryGet<T extends KubeObject>(rt: ResourceType, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.get<T>(rt, name, namespace);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async list<T extends KubeObject>(rt: ResourceType, opts: ListOptions = {}): Promise<ListResult<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.request<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>({
        method: 'GET',
        path: this.path(rt, opts.namespace),
        query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: opts.limit ?? 500, continue: cont },
      });
      // List items carry no apiVersion/kind; restore them so objects are self-describing.
      for (const item of page.items ?? []) items.push({ apiVersion: apiVersionOf(rt), kind: rt.kind, ...item });
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  }

  create<T extends KubeObject>(rt: ResourceType, obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.request<T>({
      method: 'POST',
      path: this.path(rt, obj.metadata?.namespace),
      query: this.writeQuery(opts),
      body: { apiVersion: apiVersionOf(rt), kind: rt.kind, ...obj },
    });
  }

  replace<T extends KubeObject>(rt: ResourceType, obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.request<T>({
      method: 'PUT',
      path: this.path(rt, obj.metadata?.namespace, obj.metadata?.name, opts.subresource),
      query: this.writeQuery(opts),
      body: { apiVersion: apiVersionOf(rt), kind: rt.kind, ...obj },
    });
  }

  /** RFC 7386 merge patch. Include metadata.resourceVersion in the patch for optimistic locking. */
  mergePatch<T extends KubeObject>(rt: ResourceType, name: string, namespace: string | undefined, patch: unknown, opts: WriteOptions = {}): Promise<T> {
    return this.patch<T>(rt, name, namespace, patch, 'application/merge-patch+json', opts);
  }

  /** RFC 6902 JSON patch; a failing `test` op surfaces as a 422 Invalid error. */
  jsonPatch<T extends KubeObject>(rt: ResourceType, name: string, namespace: string | undefined, ops: JsonPatchOp[], opts: WriteOptions = {}): Promise<T> {
    return this.patch<T>(rt, name, namespace, ops, 'application/json-patch+json', opts);
  }

  /** Server-side apply of a partial object owned by this client's field manager. */
  apply<T extends KubeObject>(rt: ResourceType, obj: T, opts: WriteOptions & { force?: boolean } = {}): Promise<T> {
    const name = obj.metadata?.name;
    if (!name) throw new Error(`server-side apply of ${rt.kind} needs metadata.name`);
    const body = { apiVersion: apiVersionOf(rt), kind: rt.kind, ...obj };
    return this.patch<T>(rt, name, obj.metadata?.namespace, body, 'application/apply-patch+yaml', opts, { force: opts.force ?? false });
  }

  private patch<T>(rt: ResourceType, name: string, namespace: string | undefined, body: unknown, contentType: string, opts: WriteOptions, extra: Record<string, boolean> = {}): Promise<T> {
    return this.request<T>({
      method: 'PATCH',
      path: this.path(rt, namespace, name, opts.subresource),
      query: { ...this.writeQuery(opts), ...extra },
      body,
      contentType,
    });
  }

  private writeQuery(opts: WriteOptions): Record<string, string | undefined> {
    return { fieldManager: this.opts.fieldManager, dryRun: opts.dryRun ? 'All' : undefined, fieldValidation: opts.fieldValidation };
  }

  /** Merge patch of the status subresource. */
  patchStatus<T extends KubeObject>(rt: ResourceType, name: string, namespace: string | undefined, status: unknown): Promise<T> {
    return this.mergePatch<T>(rt, name, namespace, { status }, { subresource: 'status' });
  }

  /** Deletes; a missing object is not an error (deletion is idempotent). Returns false if it was already gone. */
  async delete(rt: ResourceType, name: string, namespace?: string, opts: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'; uid?: string } = {}): Promise<boolean> {
    try {
      await this.request({
        method: 'DELETE',
        path: this.path(rt, namespace, name),
        body: {
          kind: 'DeleteOptions',
          apiVersion: 'v1',
          ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
          ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
        },
      });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /** GET /version: proves the server is reachable and we are authenticated. */
  version(timeoutMs?: number): Promise<{ major: string; minor: string; gitVersion: string }> {
    return this.request({ method: 'GET', path: '/version', ...(timeoutMs ? { timeoutMs } : {}) });
  }
}

function toApiError(code: number, text: string, req: RequestOptions): ApiError {
  let status: { reason?: string; message?: string; details?: unknown } = {};
  try {
    status = JSON.parse(text) as typeof status;
  } catch {
    // not a Status object (e.g. a proxy's HTML error page)
  }
  const reason = status.reason ?? (code === 404 ? 'NotFound' : code === 409 ? 'Conflict' : 'Unknown');
  // Only the Status message goes into the error: request bodies may hold secrets.
  const message = status.message ?? `${req.method} ${req.path}: HTTP ${code}${text && !text.startsWith('{') ? ` (${text.slice(0, 200).trim()})` : ''}`;
  return new ApiError(code, reason, message, status.details);
}

/** Loads a kubeconfig from a path, or the default locations (KUBECONFIG, ~/.kube/config, in-cluster). */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) {
    throw new Error(path ? `kubeconfig ${path} has no current cluster: set current-context` : 'no kubeconfig found: pass --kubeconfig or set KUBECONFIG');
  }
  return kc;
}
