// The proxy Pod's tenant leg in the OVN world (test/sim/cpproxy.ts): run
// inside the Pod's network namespace, it is the production forwarder of
// `ironplane cp-proxy`, listening where the container's --listen says and
// forwarding to the UNIX socket of the management leg. It prints
// {"msg":"listening"} once bound and exits when its parent goes (stdin
// closes), so no forwarder outlives the test that started it.
import { parseAddress, startForwarder } from '../../providers/kubevirt/cpproxy.js';

const args = process.argv.slice(2);
const flag = (f: string): string => {
  const i = args.indexOf(f);
  const v = i >= 0 ? args[i + 1] : undefined;
  if (!v) throw new Error(`cpproxy-leg: ${f} is required`);
  return v;
};

const fwd = await startForwarder({ listen: parseAddress(flag('--listen'), '--listen'), to: parseAddress(flag('--to'), '--to'), maxConnections: 64, drainMs: 1000 });
process.stdout.write(JSON.stringify({ msg: 'listening', address: fwd.address }) + '\n');
const stop = () => void fwd.close().then(() => process.exit(0));
process.stdin.on('end', stop).on('close', stop).resume();
process.once('SIGTERM', stop);
