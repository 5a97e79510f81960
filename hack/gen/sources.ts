// What `npm run gen` generates. Each source is a directory of CRD YAML and the
// directory its types and validators go to (which the generator owns).
// Missing CRD directories are skipped, so a source can be listed before its
// CRDs exist.
import type { Source } from './generator.js';

export const sources: readonly Source[] = [
  {
    // Our own API: config/crd is the source of truth.
    name: 'ironplane',
    crdDir: 'config/crd/bases',
    out: 'providers/api/generated/ironplane',
  },
  {
    // CAPI core CRDs copied from the pinned module by `make crds-external`.
    name: 'capi',
    crdDir: 'config/external/capi',
    out: 'providers/api/generated/capi',
    versions: ['v1beta2'],
    // Types for every kind; validators where ajv sits at a boundary
    // (templates, fixtures, hook requests).
    validators: ['Cluster', 'ClusterClass', 'Machine', 'MachineDeployment'],
  },
  {
    // Test fixtures: exercise the generator end to end.
    name: 'fixtures',
    crdDir: 'test/fixtures/crds',
    out: 'test/fixtures/generated',
  },
];
