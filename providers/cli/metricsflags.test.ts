import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { extensionCommand } from './extension.js';
import { managerCommand } from './manager.js';
import { resolveMetricsFlags } from './metricsflags.js';

describe('resolveMetricsFlags', () => {
  it('given no --metrics-bind-address, should pick the default of the mode', () => {
    expect(resolveMetricsFlags({ metricsSecure: false }, ':8081').bindAddress).toBe('127.0.0.1:8080');
    expect(resolveMetricsFlags({ metricsSecure: true }, ':8081').bindAddress).toBe(':8443');
  });

  it('given an address, should keep it', () => {
    const r = resolveMetricsFlags({ metricsBindAddress: '127.0.0.1:0', metricsSecure: true, metricsCertDir: '/certs' }, '0');
    expect(r).toEqual({ bindAddress: '127.0.0.1:0', serving: { address: { host: '127.0.0.1', port: 0 }, secure: true, certDir: '/certs' }, warnings: [] });
  });
});

// Bad combinations are usage errors: exit code 2 and a message naming the
// flag, before anything connects to a cluster.
describe('metrics flags on the command line', () => {
  const parse = (args: string[]) => {
    const program = new Command().exitOverride();
    for (const c of [managerCommand(), extensionCommand()]) program.addCommand(c.exitOverride().configureOutput({ writeErr: () => undefined }));
    return program.parseAsync(args, { from: 'user' });
  };

  for (const cmd of [['manager', '--role', 'kairos'], ['extension']]) {
    const name = cmd[0]!;

    it(`${name}: given --metrics-cert-dir without --metrics-secure, should refuse it`, async () => {
      await expect(parse([...cmd, '--metrics-cert-dir', '/certs'])).rejects.toMatchObject({
        exitCode: 2,
        message: 'error: --metrics-cert-dir needs --metrics-secure: plain HTTP metrics use no certificate',
      });
    });

    it(`${name}: given --metrics-secure on the probes' port, should refuse it`, async () => {
      await expect(parse([...cmd, '--metrics-secure', '--metrics-bind-address', ':8081', '--health-probe-bind-address', ':8081'])).rejects.toMatchObject({
        exitCode: 2,
        message:
          'error: --metrics-bind-address :8081 and --health-probe-bind-address :8081 share port 8081: with --metrics-secure, /metrics is HTTPS and the probes are plain HTTP, so they need different ports',
      });
    });

    it(`${name}: given a malformed --metrics-bind-address, should name it`, async () => {
      await expect(parse([...cmd, '--metrics-secure', '--metrics-bind-address', '8443'])).rejects.toMatchObject({
        exitCode: 2,
        message: 'error: invalid bind address "8443": use host:port, :port or 0 to disable',
      });
    });

    it(`${name}: given a value for --metrics-secure, should refuse it (it is a switch)`, async () => {
      await expect(parse([...cmd, '--metrics-secure=false'])).rejects.toMatchObject({ exitCode: 1, message: "error: unknown option '--metrics-secure=false'" });
    });
  }
});
