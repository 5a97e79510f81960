// `make tools` (hack/tools/build.sh): clear failures that name the problem.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './processes.js';

const BUILD = path.join(REPO, 'hack/tools/build.sh');

function build(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(BUILD, args, { env, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('hack/tools/build.sh', () => {
  it('given an unknown tool, should name it and list the known ones', () => {
    const r = build(['kube-dns']);
    expect(r.code).toBe(1);
    expect(r.out).toContain("make tools: unknown tool 'kube-dns' (known: etcd kube-apiserver kube-controller-manager kubeadm kube-scheduler kube-proxy kubelet kubectl capi-manager clusterctl capi-test-extension baremetal-operator kamaji-cp-provider kustomize sveltos-addon-controller)");
  });

  it('given no Go on the PATH, should say Go is required', () => {
    const r = build(['etcd'], { ...process.env, PATH: '/usr/bin:/bin' });
    expect(r.code).toBe(1);
    expect(r.out).toContain('make tools: Go is required (>= 1.25)');
  });

  it('given a tool whose build fails, should name the tool and show the compiler output', () => {
    // An empty bin dir forces a build; a toolexec that always fails makes it fail for real.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ironplane-tools-'));
    try {
      const r = build(['etcd'], { ...process.env, BIN_DIR: dir, GOFLAGS: '-toolexec=/bin/false' });
      expect(r.code).toBe(1);
      expect(r.out).toContain('make tools: building etcd failed (go.etcd.io/etcd/server/v3 in hack/tools/etcd):');
      expect(r.out).toContain('go: error obtaining buildID');
      expect(fs.existsSync(path.join(dir, 'etcd'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('given binaries that are up to date, should skip them', () => {
    const r = build(['etcd']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('up to date  etcd');
  });
});
