// The ironplane image built without Docker (`make image`, hack/image/build.sh):
// it must be the image the Dockerfile describes (entrypoint, cmd, user, workdir,
// NODE_ENV, the files under /app, production dependencies only), its own node
// must run from its own libraries, and two builds of the same inputs must give
// the same digest. Needs `make build` (dist/) first, as `make test` does.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from './processes.js';

const BUILD = path.join(REPO, 'hack/image/build.sh');
const PKG = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };
const ARCHIVE = `ironplane-${PKG.version}.oci.tar`;

interface Descriptor { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }
interface ImageConfig {
  architecture: string;
  os: string;
  config: { User?: string; Env?: string[]; Entrypoint?: string[]; Cmd?: string[]; WorkingDir?: string };
  rootfs: { diff_ids: string[] };
}

function sh(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${String(r.stdout)}${String(r.stderr)}`);
  return String(r.stdout);
}

/** Builds the image into outDir; returns the digest the script prints last. */
function build(outDir: string, sourceDateEpoch: string): string {
  const out = sh(BUILD, [outDir], { cwd: REPO, env: { ...process.env, SOURCE_DATE_EPOCH: sourceDateEpoch } });
  return out.trim().split('\n').at(-1) ?? '';
}

/** The final stage of the Dockerfile: what the built image must say and hold. */
function dockerfileFinalStage(): { env: Record<string, string>; workdir: string; user: string; entrypoint: string[]; cmd: string[]; copies: string[] } {
  const text = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stage = lines.slice(lines.map((l) => l.startsWith('FROM ')).lastIndexOf(true));
  const arg = (instr: string): string => {
    const l = stage.find((x) => x.startsWith(`${instr} `));
    if (!l) throw new Error(`Dockerfile's final stage has no ${instr}`);
    return l.slice(instr.length + 1).trim();
  };
  const env = Object.fromEntries(stage.filter((l) => l.startsWith('ENV ')).map((l) => l.slice(4).trim().split('=', 2) as [string, string]));
  const copies = stage.filter((l) => l.startsWith('COPY ')).map((l) => l.split(/\s+/).at(-1) ?? '');
  return { env, workdir: arg('WORKDIR'), user: arg('USER'), entrypoint: JSON.parse(arg('ENTRYPOINT')) as string[], cmd: JSON.parse(arg('CMD')) as string[], copies };
}

/** The image reference the release manifests deploy. */
function manifestsImage(): string {
  const y = fs.readFileSync(path.join(REPO, 'config/release/components/manager/deployment.yaml'), 'utf8');
  const m = /image: \$\{IRONPLANE_IMAGE:=([^}]+)\}:\$\{IRONPLANE_VERSION:=([^}]+)\}/.exec(y);
  if (!m) throw new Error('no image: line in config/release/components/manager/deployment.yaml');
  return `${m[1]}:${m[2]}`;
}

let tmp: string;
let sde: string;
let digest: string;
let layout: string;
let rootfs: string;
let manifest: { config: Descriptor; layers: Descriptor[] };
let config: ImageConfig;
let index: { manifests: Descriptor[] };

const blob = (d: string): string => path.join(layout, 'blobs/sha256', d.replace(/^sha256:/, ''));

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ironplane-image-'));
  // Fixed once, so that a commit landing during the test changes neither build.
  sde = sh('git', ['log', '-1', '--format=%ct'], { cwd: REPO }).trim();
  digest = build(path.join(tmp, 'a'), sde);
  layout = path.join(tmp, 'layout');
  rootfs = path.join(tmp, 'rootfs');
  fs.mkdirSync(layout);
  fs.mkdirSync(rootfs);
  sh('tar', ['-xf', path.join(tmp, 'a', ARCHIVE), '-C', layout]);
  index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')) as typeof index;
  manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0]?.digest ?? ''), 'utf8')) as typeof manifest;
  config = JSON.parse(fs.readFileSync(blob(manifest.config.digest), 'utf8')) as ImageConfig;
  for (const l of manifest.layers) sh('tar', ['-xzf', blob(l.digest), '-C', rootfs]);
}, 300_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the image built by hack/image/build.sh', () => {
  it('given the archive, should be an OCI layout that containerd imports under the release manifests image name', () => {
    expect(JSON.parse(fs.readFileSync(path.join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(index.manifests).toHaveLength(1);
    const m = index.manifests[0];
    expect(m?.digest).toBe(digest);
    expect(m?.annotations?.['io.containerd.image.name']).toBe(manifestsImage());
    expect(manifestsImage()).toBe(`ghcr.io/ironplane/ironplane:v${PKG.version}`);
    expect(m?.annotations?.['org.opencontainers.image.ref.name']).toBe(`v${PKG.version}`);
    // Every blob is what its descriptor says.
    for (const d of [m as Descriptor, manifest.config, ...manifest.layers]) {
      expect(`sha256:${sh('sha256sum', [blob(d.digest)]).split(' ')[0]}`).toBe(d.digest);
      expect(fs.statSync(blob(d.digest)).size).toBe(d.size);
    }
    manifest.layers.forEach((l, i) => {
      expect(`sha256:${sh('bash', ['-c', 'gzip -dc "$1" | sha256sum', '_', blob(l.digest)]).split(' ')[0]}`).toBe(config.rootfs.diff_ids[i]);
    });
    expect([config.os, config.architecture]).toEqual(['linux', 'amd64']);
  });

  it('given the Dockerfile, should have its entrypoint, cmd, user, workdir and NODE_ENV', () => {
    const df = dockerfileFinalStage();
    expect(config.config.Entrypoint).toEqual(df.entrypoint);
    expect(config.config.Cmd).toEqual(df.cmd);
    expect(config.config.User).toBe(df.user);
    expect(config.config.User).toBe('1000:1000');
    expect(config.config.WorkingDir).toBe(df.workdir);
    expect(df.env.NODE_ENV).toBe('production');
    for (const [k, v] of Object.entries(df.env)) expect(config.config.Env).toContain(`${k}=${v}`);
  });

  it('given the Dockerfile, should hold what it copies: package.json, dist/providers, production node_modules only, templates/bootstrap', () => {
    const df = dockerfileFinalStage();
    const app = (p: string): string => path.join(rootfs, df.workdir, p);
    for (const dest of df.copies) expect(fs.existsSync(app(dest)), dest).toBe(true);
    expect(JSON.parse(fs.readFileSync(app('package.json'), 'utf8'))).toEqual(PKG);
    expect(fs.existsSync(app('dist/providers/cli/main.js'))).toBe(true);
    const files = (dir: string): string[] => fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
    const templates = files(path.join(REPO, 'templates/bootstrap'));
    expect(templates.length).toBeGreaterThan(0);
    expect(files(app('templates/bootstrap'))).toEqual(templates);
    for (const t of templates) expect(fs.readFileSync(app(`templates/bootstrap/${t}`), 'utf8'), t).toBe(fs.readFileSync(path.join(REPO, 'templates/bootstrap', t), 'utf8'));
    for (const d of Object.keys(PKG.dependencies)) expect(fs.existsSync(app(`node_modules/${d}/package.json`)), d).toBe(true);
    expect(PKG.dependencies['@kubernetes/client-node']).toBeDefined();
    // What package-lock.json marks dev-only (a devDependency that a production
    // dependency also needs, such as @types/node, is not).
    const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([p, e]) => e.dev && p.startsWith('node_modules/')).map(([p]) => p);
    expect(devOnly).toContain('node_modules/vitest');
    expect(devOnly.filter((p) => fs.existsSync(app(p)))).toEqual([]);
    // No test code: tsconfig.build.json compiles test/harness too, the image takes providers/ only.
    expect(fs.existsSync(app('dist/test'))).toBe(false);
    expect(fs.readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8')).toMatch(/^node:x:1000:1000:/m);
    expect(fs.readFileSync(path.join(rootfs, 'etc/group'), 'utf8')).toMatch(/^node:x:1000:/m);
    expect((fs.statSync(path.join(rootfs, 'tmp')).mode & 0o7777).toString(8)).toBe('1777');
  });

  it('given its layers, should record no owner but root, no user names and one mtime for every entry', () => {
    const when = new Date(Number(sde) * 1000).toISOString().replace('T', ' ').slice(0, 19);
    for (const l of manifest.layers) {
      const lines = sh('tar', ['-tvzf', blob(l.digest), '--full-time', '--numeric-owner']).trim().split('\n');
      const odd = lines.filter((x) => !/^\S+ 0\/0 /.test(x) || !x.includes(` ${when} `));
      expect(odd.slice(0, 5), l.digest).toEqual([]);
    }
  });

  it("should run the image's node from the image's libraries, and the CLI inside it report the package version", () => {
    const node = (args: string[]): string => {
      if (process.getuid?.() === 0) {
        // chroot into the extracted rootfs as the image's user, with the image's Env.
        const env = Object.fromEntries((config.config.Env ?? []).map((e) => e.split('=', 2) as [string, string]));
        return sh('/usr/sbin/chroot', ['--userspec', config.config.User ?? '', rootfs, ...(config.config.Entrypoint?.slice(0, 1) ?? []), ...args], { env });
      }
      // Not root: the image's own dynamic loader over the image's libraries.
      const libs = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu'].map((d) => path.join(rootfs, d)).join(':');
      return sh(path.join(rootfs, 'lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), ['--library-path', libs, path.join(rootfs, 'usr/local/bin/node'), ...args.map((a) => (a.startsWith('/app/') ? path.join(rootfs, a) : a))]);
    };
    expect(node(['--version']).trim()).toMatch(/^v20\./);
    expect(node(['-p', 'process.env.NODE_ENV ?? "unset"']).trim()).toBe(process.getuid?.() === 0 ? 'production' : 'unset');
    const entry = config.config.Entrypoint?.slice(1) ?? [];
    expect(node([...entry, '--version']).trim()).toBe(PKG.version);
    expect(node([...entry, ...(config.config.Cmd ?? [])])).toContain('Usage: ironplane');
  });

  it('given the same inputs a second time, should give the same digest and the same archive', () => {
    const again = build(path.join(tmp, 'b'), sde);
    expect(again).toBe(digest);
    expect(sh('cmp', [path.join(tmp, 'a', ARCHIVE), path.join(tmp, 'b', ARCHIVE)])).toBe('');
  }, 300_000);
});
