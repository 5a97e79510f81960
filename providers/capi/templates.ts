// Validation CEL cannot do, shared by every provider's templates. Templates
// are immutable, as the Cluster API ClusterClass contract asks: a change
// rolls out by pointing at a new template. The topology controller computes
// its changes with server-side apply dry-runs, so dry-run requests must pass
// (they persist nothing).
import { jsonEqual } from '../kit/patch.js';
import type { AdmissionRequest, Review, Verdict } from '../kit/admission.js';

type Templated = { spec?: { template?: { spec?: unknown } } };

export function templateImmutable(kind: string): Review {
  return (req: AdmissionRequest): Verdict => {
    if (req.operation !== 'UPDATE' || req.dryRun) return { allowed: true };
    const before = (req.oldObject as Templated | undefined)?.spec?.template?.spec;
    const after = (req.object as Templated | undefined)?.spec?.template?.spec;
    if (jsonEqual(before, after)) return { allowed: true };
    return {
      allowed: false,
      message: `${kind} ${req.namespace}/${req.name}: spec.template.spec is immutable; create a new ${kind} and point the ClusterClass or MachineDeployment at it`,
    };
  };
}
