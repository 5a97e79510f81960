// Builds minimal RFC 6902 JSON patches against a template: an operation only
// where the value differs, parents created with the first `add` that needs
// them. CAPI asks for idempotent patches (a template already in the desired
// state gets none), which also keeps the response small.

export interface PatchOp {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}

/** Escapes one JSON pointer segment (RFC 6901). */
export const escapePointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ob = b as Record<string, unknown>;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(ob, k) && deepEqual((a as Record<string, unknown>)[k], ob[k]));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Records operations while applying them to a private copy of the document,
 * so later operations see parents created by earlier ones. The copy is made
 * along the written paths only (each container shallow-copied once): the
 * request object is never modified, and nothing else is copied.
 */
export class PatchBuilder {
  readonly ops: PatchOp[] = [];
  private doc: Record<string, unknown>;
  private readonly owned = new WeakSet<object>();

  constructor(doc: Record<string, unknown>) {
    this.doc = doc;
  }

  /** The current value at path (segments are raw keys or array indexes). */
  get(path: readonly (string | number)[]): unknown {
    let cur: unknown = this.doc;
    for (const seg of path) {
      if (Array.isArray(cur) && typeof seg === 'number') cur = cur[seg];
      else if (isObject(cur) && typeof seg === 'string') cur = cur[seg];
      else return undefined;
    }
    return cur;
  }

  /** Makes the document at path equal value; object members only (arrays are set whole, or by index into an existing array). */
  set(path: readonly (string | number)[], value: unknown): void {
    if (deepEqual(this.get(path), value)) return;
    let cur: Record<string, unknown> | unknown[] = this.root();
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      const last = i === path.length - 1;
      const pointer = () => '/' + path.slice(0, i + 1).map((s) => escapePointer(String(s))).join('/');
      if (Array.isArray(cur) && typeof seg === 'number') {
        if (seg >= cur.length) throw new Error(`patch path ${pointer()}: index beyond the array`);
        if (last) {
          // "add" at an array index would insert; the element is replaced.
          this.ops.push({ op: 'replace', path: pointer(), value });
          cur[seg] = value;
          return;
        }
        cur = this.child(cur, seg);
        continue;
      }
      if (!isObject(cur) || typeof seg !== 'string') throw new Error(`patch path ${pointer()}: parent is not an object`);
      const next = cur[seg];
      if (last || (!isObject(next) && !Array.isArray(next))) {
        // Create the rest of the path in one operation.
        const nested = nest(path.slice(i + 1) as string[], value);
        this.ops.push({ op: 'add', path: pointer(), value: nested });
        cur[seg] = nested;
        return;
      }
      cur = this.child(cur, seg);
    }
  }

  /** Removes the member at path when present. */
  remove(path: readonly string[]): void {
    const parent = this.get(path.slice(0, -1));
    const key = path[path.length - 1];
    if (key === undefined || !isObject(parent) || !(key in parent)) return;
    let cur: Record<string, unknown> = this.root();
    for (const seg of path.slice(0, -1)) cur = this.child(cur, seg) as Record<string, unknown>;
    delete cur[key];
    this.ops.push({ op: 'remove', path: '/' + path.map(escapePointer).join('/') });
  }

  private root(): Record<string, unknown> {
    if (!this.owned.has(this.doc)) {
      this.doc = { ...this.doc };
      this.owned.add(this.doc);
    }
    return this.doc;
  }

  /** The container at parent[key], copied first unless this builder made it. */
  private child(parent: Record<string, unknown> | unknown[], key: string | number): Record<string, unknown> | unknown[] {
    const c = (parent as Record<string | number, unknown>)[key] as Record<string, unknown> | unknown[];
    if (this.owned.has(c)) return c;
    const copy = Array.isArray(c) ? [...c] : { ...c };
    this.owned.add(copy);
    (parent as Record<string | number, unknown>)[key] = copy;
    return copy;
  }
}

function nest(rest: readonly string[], value: unknown): unknown {
  let v = value;
  for (let i = rest.length - 1; i >= 0; i--) v = { [rest[i]!]: v };
  return v;
}
