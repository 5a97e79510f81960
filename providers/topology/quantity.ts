// Kubernetes resource quantities ("500m", "4Gi", "1e3") as plain numbers,
// for quota arithmetic and messages.

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The quantity grammar of k8s.io/apimachinery resource.Quantity (and our CRDs' memory pattern). */
export const QUANTITY_PATTERN = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/** The value in base units (cores, bytes, devices), or undefined when it is not a quantity. */
export function parseQuantity(s: string | number): number | undefined {
  if (typeof s === 'number') return Number.isFinite(s) ? s : undefined;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|([KMGTPE]i|[numkMGTPE]))?$/.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  if (m[2]) return n * 10 ** Number(m[2].slice(1));
  return n * (SUFFIX[m[3] ?? ''] ?? 1);
}

/** Bytes in the largest binary unit that divides them, e.g. 4294967296 → "4Gi". */
export function formatBytes(bytes: number): string {
  for (const unit of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const size = SUFFIX[unit] ?? 1;
    if (bytes >= size && Number.isInteger(bytes / size)) return `${bytes / size}${unit}`;
  }
  return String(Math.round(bytes));
}

/** Cores as Kubernetes writes them: "2", or "1500m" below whole cores. */
export function formatCores(cores: number): string {
  return Number.isInteger(cores) ? String(cores) : `${Math.round(cores * 1000)}m`;
}
