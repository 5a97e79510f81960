import { describe, expect, it } from 'vitest';
import { containsIp, formatIp, overlaps, parseCidr, parseCidrList, parseIp, type Cidr } from './cidr.js';
import { formatVersion, imageFor, parseKairosImage, type KairosImage } from './image.js';
import { PatchBuilder } from './jsonpatch.js';
import { evaluate, formatOpening, parseSchedule, type Schedule } from './maintenance.js';
import { formatBytes, formatCores, parseQuantity } from './quantity.js';

const cidr = (s: string): Cidr => parseCidr(s) as Cidr;

describe('CIDRs', () => {
  it('given IPv4 and IPv6 ranges, should parse them to their canonical text', () => {
    expect(cidr('10.0.0.0/8').text).toBe('10.0.0.0/8');
    expect(cidr('fd00:10:96::/108').text).toBe('fd00:10:96::/108');
    expect(cidr('2001:db8:0:0:0:0:0:0/32').text).toBe('2001:db8::/32');
    expect(cidr('::ffff:10.0.0.0/120').text).toBe('::ffff:a00:0/120');
  });

  it('given malformed ranges, should say what is wrong', () => {
    expect(parseCidr('10.0.0.5/24')).toBe('"10.0.0.5/24" has host bits set: use 10.0.0.0/24');
    expect(parseCidr('10.0.0.0')).toBe('"10.0.0.0" is not a CIDR (address/prefix, e.g. 10.0.0.0/24)');
    expect(parseCidr('10.0.0.300/24')).toBe('"10.0.0.300/24" is not a CIDR: "10.0.0.300" is not an IP address');
    expect(parseCidr('10.0.0.0/33')).toBe('"10.0.0.0/33" is not a CIDR: an IPv4 prefix is at most /32');
    expect(parseCidr('fd00::1/64')).toBe('"fd00::1/64" has host bits set: use fd00::/64');
  });

  it('given two ranges, should tell whether they overlap, never across families', () => {
    expect(overlaps(cidr('10.0.0.0/8'), cidr('10.96.0.0/16'))).toBe(true);
    expect(overlaps(cidr('10.96.0.0/16'), cidr('10.97.0.0/16'))).toBe(false);
    expect(overlaps(cidr('fd00::/8'), cidr('fd00:1::/64'))).toBe(true);
    expect(overlaps(cidr('0.0.0.0/0'), cidr('::/0'))).toBe(false);
  });

  it('given an address, should tell whether a range holds it', () => {
    expect(containsIp(cidr('10.20.0.0/24'), parseIp('10.20.0.254')!)).toBe(true);
    expect(containsIp(cidr('10.20.0.0/24'), parseIp('10.20.1.1')!)).toBe(false);
    expect(formatIp(6, parseIp('fe80::1')!.value)).toBe('fe80::1');
  });

  it('given a comma-separated list, should keep the good ranges and name the bad ones', () => {
    const { cidrs, problems } = parseCidrList(' 10.0.0.0/8, 192.168.1.1/24 ,,fd00::/8');
    expect(cidrs.map((c) => c.text)).toEqual(['10.0.0.0/8', 'fd00::/8']);
    expect(problems).toEqual(['"192.168.1.1/24" has host bits set: use 192.168.1.0/24']);
  });
});

describe('quantities', () => {
  it('given Kubernetes quantities, should read them in base units', () => {
    expect(parseQuantity('4Gi')).toBe(4 * 2 ** 30);
    expect(parseQuantity('500m')).toBe(0.5);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity('2k')).toBe(2000);
    expect(parseQuantity(8)).toBe(8);
    expect(parseQuantity('4 GB')).toBeUndefined();
  });

  it('given base units, should write them back readably', () => {
    expect(formatBytes(64 * 2 ** 30)).toBe('64Gi');
    expect(formatBytes(1536 * 2 ** 20)).toBe('1536Mi');
    expect(formatCores(24)).toBe('24');
    expect(formatCores(1.5)).toBe('1500m');
  });
});

describe('Kairos images', () => {
  it('given a tag ending with k8sv<version>, should read the Kubernetes version', () => {
    const img = parseKairosImage('quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0') as KairosImage;
    expect(formatVersion(img.kubernetes)).toBe('v1.35.0');
    const built = parseKairosImage(`registry.example.com:5000/kairos-kubeadm:v3.5.0-k8sv1.34.2-3@sha256:${'a'.repeat(64)}`) as KairosImage;
    expect(formatVersion(built.kubernetes)).toBe('v1.34.2');
  });

  it('given a reference without a tag version, or not a reference, should say so', () => {
    expect(parseKairosImage('quay.io/kairos/ubuntu:24.04-standard')).toBe(
      '"quay.io/kairos/ubuntu:24.04-standard" has no Kubernetes version in its tag: the tag must end with k8sv<major>.<minor>.<patch>, e.g. ...-k8sv1.35.0',
    );
    expect(parseKairosImage('quay.io/kairos/ubuntu')).toBe('"quay.io/kairos/ubuntu" is not an OCI image reference with a tag (registry/repository:tag[@sha256:digest])');
    expect(parseKairosImage('Quay.io/Kairos:x-k8sv1.35.0')).toMatch(/is not an OCI image reference/);
  });

  it('given images and a version, should pick the same minor with the highest patch not newer than it', () => {
    const images = ['a:k8sv1.34.2', 'a:k8sv1.35.0', 'a:k8sv1.35.3', 'a:k8sv1.35.9'].map((r) => parseKairosImage(`quay.io/x/${r}`) as KairosImage);
    expect(imageFor(images, { major: 1, minor: 35, patch: 5 })?.ref).toBe('quay.io/x/a:k8sv1.35.3');
    expect(imageFor(images, { major: 1, minor: 34, patch: 1 })).toBeUndefined();
    expect(imageFor(images, { major: 1, minor: 36, patch: 0 })).toBeUndefined();
  });
});

describe('maintenance windows', () => {
  const at = (iso: string) => new Date(iso);
  const windows = (s: string) => parseSchedule(s) as Schedule;

  it('given open, closed or a schedule, should tell whether an upgrade may start now', () => {
    expect(evaluate(windows('open'), at('2026-11-25T12:00:00Z')).open).toBe(true);
    expect(evaluate(windows('closed'), at('2026-11-25T12:00:00Z'))).toEqual({ open: false });
    // 2026-11-28 is a Saturday.
    expect(evaluate(windows('Sat,Sun 00:00-06:00'), at('2026-11-28T05:59:00Z')).open).toBe(true);
    expect(evaluate(windows('Sat,Sun 00:00-06:00'), at('2026-11-28T06:00:00Z')).open).toBe(false);
    expect(evaluate(windows('daily 02:00-03:00'), at('2026-11-25T02:30:00Z')).open).toBe(true);
  });

  it('given a window that crosses midnight, should be open after midnight on the next day', () => {
    const s = windows('Mon-Fri 22:00-04:00');
    // Friday 2026-11-27 23:00 and Saturday 03:00 are both in Friday's window.
    expect(evaluate(s, at('2026-11-27T23:00:00Z')).open).toBe(true);
    expect(evaluate(s, at('2026-11-28T03:00:00Z')).open).toBe(true);
    expect(evaluate(s, at('2026-11-28T23:00:00Z')).open).toBe(false);
  });

  it('given a closed schedule, should say when it next opens', () => {
    const state = evaluate(windows('Sat,Sun 00:00-06:00'), at('2026-11-25T12:00:00Z'));
    expect(state.open).toBe(false);
    expect(formatOpening(state.nextOpen!)).toBe('Sat 2026-11-28 00:00 UTC');
    expect(formatOpening(evaluate(windows('Fri-Mon 20:00-24:00'), at('2026-11-24T21:00:00Z')).nextOpen!)).toBe('Fri 2026-11-27 20:00 UTC');
  });

  it('given bad values, should say what is wrong', () => {
    expect(parseSchedule('weekends')).toBe('"weekends" is not a window: write <days> <HH:MM>-<HH:MM>, e.g. "Sat,Sun 00:00-06:00"');
    expect(parseSchedule('Sat,Sunday 00:00-06:00')).toBe('"Sunday" is not a day or day range: use Mon, Tue, Wed, Thu, Fri, Sat, Sun, ranges such as Mon-Fri, or daily');
    expect(parseSchedule('Sat 00:00-25:00')).toBe('"Sat 00:00-25:00" has a bad time: use HH:MM from 00:00 to 23:59 (24:00 as an end)');
    expect(parseSchedule('Sat 06:00-06:00')).toBe('"Sat 06:00-06:00" is empty: the start and the end are equal');
  });
});

describe('PatchBuilder', () => {
  it('given values already in place, should emit nothing', () => {
    const b = new PatchBuilder({ spec: { a: { b: 1 }, list: [1, 2] } });
    b.set(['spec', 'a', 'b'], 1);
    b.set(['spec', 'list'], [1, 2]);
    expect(b.ops).toEqual([]);
  });

  it('given missing parents, should create them in one add, and later sets should see them', () => {
    const doc = { spec: {} };
    const b = new PatchBuilder(doc);
    b.set(['spec', 'template', 'spec', 'network', 'serviceType'], 'LoadBalancer');
    b.set(['spec', 'template', 'spec', 'network', 'serviceAnnotations', 'metallb.io/address-pool'], 'tenants');
    expect(b.ops).toEqual([
      { op: 'add', path: '/spec/template', value: { spec: { network: { serviceType: 'LoadBalancer' } } } },
      { op: 'add', path: '/spec/template/spec/network/serviceAnnotations', value: { 'metallb.io/address-pool': 'tenants' } },
    ]);
    expect(doc).toEqual({ spec: {} });
  });

  it('given a key with / or ~, should escape it in the pointer', () => {
    const b = new PatchBuilder({ m: { 'a/b~c': 'x' } });
    b.set(['m', 'a/b~c'], 'y');
    expect(b.ops).toEqual([{ op: 'add', path: '/m/a~1b~0c', value: 'y' }]);
  });

  it('given an array index, should replace that element', () => {
    const b = new PatchBuilder({ users: [{ name: 'a' }, { name: 'b' }] });
    b.set(['users', 1, 'keys'], ['k']);
    b.set(['users', 0], { name: 'z' });
    expect(b.ops).toEqual([
      { op: 'add', path: '/users/1/keys', value: ['k'] },
      { op: 'replace', path: '/users/0', value: { name: 'z' } },
    ]);
  });

  it('given a member to remove, should remove it only when present', () => {
    const b = new PatchBuilder({ a: { b: 1 } });
    b.remove(['a', 'c']);
    b.remove(['a', 'b']);
    expect(b.ops).toEqual([{ op: 'remove', path: '/a/b' }]);
  });
});
