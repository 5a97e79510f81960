// A manager process running the sample Widget controller, for tests that
// need real processes (leader election, kill -9). Usage:
//   node --import tsx test/sample/widgets/manager-main.ts --kubeconfig <path> --identity <id> [--probe :0]
import { parseArgs } from 'node:util';
import { createLogger, parseLevel } from '../../../providers/kit/log.js';
import { Manager } from '../../../providers/kit/manager.js';
import { widgetController } from './controller.js';

const { values } = parseArgs({ options: { kubeconfig: { type: 'string' }, identity: { type: 'string' }, probe: { type: 'string', default: '0' }, 'leader-elect': { type: 'string', default: 'true' }, workers: { type: 'string', default: '2' }, 'log-level': { type: 'string', default: 'debug' } } });
const log = createLogger({ level: parseLevel(values['log-level'] ?? 'debug') }, { identity: values.identity });
const mgr = new Manager({
  name: 'widget-manager',
  kubeconfig: values.kubeconfig,
  log,
  probeAddress: values.probe,
  metricsAddress: values.probe,
  leaderElection: { enabled: values['leader-elect'] !== 'false', namespace: 'default', ...(values.identity ? { identity: values.identity } : {}) },
});
try {
  const client = await mgr.connect();
  const { controller, widgets, configMaps } = widgetController({ client, log, metrics: mgr.metrics, workers: Number(values.workers) });
  mgr.addInformer(widgets);
  mgr.addInformer(configMaps);
  mgr.addController(controller);
  mgr.handleSignals();
  process.exit(await mgr.start());
} catch (e) {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
}
