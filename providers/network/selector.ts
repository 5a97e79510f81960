// The namespace selector of the peering policy (--peering-namespace-selector),
// in the equality-based label selector syntax kubectl takes:
// "k=v", "k==v", "k!=v", "k" (exists) and "!k" (absent), comma-separated.
export type Requirement = { key: string; op: '=' | '!='; value: string } | { key: string; op: 'exists' | '!exists' };
export type Selector = Requirement[];

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

export function parseSelector(s: string): Selector {
  const out: Selector = [];
  for (const raw of s.split(',').map((p) => p.trim())) {
    if (!raw) continue;
    const m = /^([^!=]+?)\s*(==|!=|=)\s*(.*)$/.exec(raw);
    let req: Requirement;
    if (m) req = { key: m[1]!.trim(), op: m[2] === '!=' ? '!=' : '=', value: m[3]!.trim() };
    else if (raw.startsWith('!')) req = { key: raw.slice(1).trim(), op: '!exists' };
    else req = { key: raw, op: 'exists' };
    if (!KEY.test(req.key)) throw new Error(`namespace selector "${s}": "${req.key}" is not a label key`);
    if ('value' in req && !VALUE.test(req.value)) throw new Error(`namespace selector "${s}": "${req.value}" is not a label value`);
    out.push(req);
  }
  return out;
}

export function matchesSelector(labels: Record<string, string>, sel: Selector): boolean {
  return sel.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case '=':
        return has && labels[r.key] === r.value;
      case '!=':
        return !has || labels[r.key] !== r.value;
    }
  });
}
