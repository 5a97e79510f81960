// A sample controller built only from the kit, used to prove the kit against
// a real apiserver. A Widget gets status.observedSize = spec.size, and an
// owned ConfigMap "widget-<name>" that is deleted before the finalizer goes.
import { isAlreadyExists, type Client } from '../../../providers/kit/client.js';
import { Controller } from '../../../providers/kit/controller.js';
import { Informer, type InformerOptions } from '../../../providers/kit/informer.js';
import type { Logger } from '../../../providers/kit/log.js';
import type { Metrics } from '../../../providers/kit/metrics.js';
import { objectReconciler } from '../../../providers/kit/reconciler.js';
import { ConfigMaps, metadataOnly, type KubeObject, type ResourceType } from '../../../providers/kit/types.js';
import type { WithStatus } from '../../../providers/kit/patch.js';

export const Widgets: ResourceType = { group: 'test.ironplane.dev', version: 'v1alpha1', kind: 'Widget', plural: 'widgets', namespaced: true };
export const FINALIZER = 'test.ironplane.dev/widget';
export const CONFIGMAP_READY = 'ConfigMapReady';
export const PAUSED_ANNOTATION = 'test.ironplane.dev/paused';

export interface Widget extends WithStatus {
  spec?: { size?: number };
  status?: WithStatus['status'] & { observedSize?: number };
}

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

/** What the controller did, for tests to check that side effects are not duplicated. */
export interface SideEffects {
  configMapsCreated: number;
  reconciles: number;
}

export function widgetController(opts: { client: Client; log: Logger; metrics?: Metrics; workers?: number; informerOpts?: InformerOptions }) {
  const { client } = opts;
  const widgets = new Informer<Widget>(client, Widgets, { log: opts.log, ...opts.informerOpts });
  // Only the existence of the ConfigMaps matters here: cache their metadata.
  const configMaps = new Informer<ConfigMap>(client, ConfigMaps, { log: opts.log, labelSelector: 'test.ironplane.dev/widget', transform: metadataOnly, ...opts.informerOpts });
  const effects: SideEffects = { configMapsCreated: 0, reconciles: 0 };

  const reconcile = objectReconciler<Widget>({
    client,
    resource: Widgets,
    cache: widgets,
    finalizer: FINALIZER,
    ownedConditions: [CONFIGMAP_READY],
    paused: (scope) => (scope.obj.metadata?.annotations?.[PAUSED_ANNOTATION] !== undefined ? `annotation ${PAUSED_ANNOTATION} is set` : undefined),
    async normal(scope) {
      effects.reconciles++;
      const w = scope.obj;
      const ns = w.metadata!.namespace!;
      const cmName = `widget-${w.metadata!.name}`;
      // The cache answers "does it exist?": no GET per reconcile.
      if (!configMaps.get(`${ns}/${cmName}`)) {
        try {
          await client.create<ConfigMap>(ConfigMaps, {
            metadata: {
              name: cmName,
              namespace: ns,
              labels: { 'test.ironplane.dev/widget': w.metadata!.name! },
              ownerReferences: [{ apiVersion: 'test.ironplane.dev/v1alpha1', kind: 'Widget', name: w.metadata!.name!, uid: w.metadata!.uid!, controller: true }],
            },
            data: { size: String(w.spec?.size ?? 0) },
          });
          effects.configMapsCreated++;
        } catch (e) {
          // A cache that has not seen our earlier create yet: already done.
          if (!isAlreadyExists(e)) throw e;
        }
      }
      w.status = { ...w.status, observedSize: w.spec?.size ?? 0 };
      scope.setCondition({ type: CONFIGMAP_READY, status: true, reason: 'Created', message: `ConfigMap ${cmName} exists` });
    },
    async delete(scope) {
      const w = scope.obj;
      const ns = w.metadata!.namespace!;
      const cmName = `widget-${w.metadata!.name}`;
      if (configMaps.get(`${ns}/${cmName}`)) {
        await client.delete(ConfigMaps, cmName, ns);
        scope.setCondition({ type: CONFIGMAP_READY, status: false, reason: 'Deleting', message: `waiting for ConfigMap ${cmName} to go` });
        return; // the ConfigMap's delete event brings us back
      }
      scope.removeFinalizer();
    },
  });

  const controller = new Controller({ name: 'widget', reconcile, log: opts.log, workers: opts.workers ?? 2, ...(opts.metrics ? { metrics: opts.metrics } : {}) });
  controller.watch(widgets);
  controller.watch(configMaps, (cm) => {
    const owner = cm.metadata?.ownerReferences?.find((o) => o.kind === 'Widget' && o.controller);
    return owner ? [`${cm.metadata!.namespace}/${owner.name}`] : [];
  });
  return { controller, widgets, configMaps, effects };
}
