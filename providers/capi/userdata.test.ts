import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROVIDER_ID_FILE, renderUserData, UnsupportedBootstrapData } from './userdata.js';

describe('renderUserData', () => {
  const kairos = '#cloud-config\n# Kairos config rendered by the bootstrap provider\ninstall:\n  auto: true\nwrite_files:\n  - path: /etc/motd\n    content: hello\n';

  it('should add the providerID file and keep the rest, comments included', () => {
    const out = renderUserData({ value: kairos, format: 'cloud-config' }, 'kubevirt://team-a/m1');
    expect(out.startsWith('#cloud-config\n# Kairos config rendered by the bootstrap provider\n')).toBe(true);
    const parsed = parse(out) as { install: unknown; write_files: { path: string; content: string }[] };
    expect(parsed.install).toEqual({ auto: true });
    expect(parsed.write_files).toEqual([
      { path: '/etc/motd', content: 'hello' },
      { path: PROVIDER_ID_FILE, content: 'kubevirt://team-a/m1', permissions: '0644', owner: 'root:root' },
    ]);
  });

  it('should be idempotent: rendering its own output again changes nothing', () => {
    const once = renderUserData({ value: kairos }, 'kubevirt://team-a/m1');
    expect(renderUserData({ value: once }, 'kubevirt://team-a/m1')).toBe(once);
  });

  it('given a cloud-config without write_files or without any key, should still add the file', () => {
    expect((parse(renderUserData({ value: '#cloud-config\nhostname: x\n' }, 'p')) as { write_files: unknown[] }).write_files).toHaveLength(1);
    expect((parse(renderUserData({ value: '#cloud-config\n' }, 'p')) as { write_files: unknown[] }).write_files).toHaveLength(1);
  });

  it('given a format other than cloud-config, should refuse it by name', () => {
    expect(() => renderUserData({ value: '{}', format: 'ignition' }, 'p')).toThrow('bootstrap data format "ignition" is not supported: Ironplane machines boot cloud-config (Kairos)');
  });

  it('given data without the #cloud-config header, should say so', () => {
    expect(() => renderUserData({ value: 'install: {}' }, 'p')).toThrow('bootstrap data is not a cloud-config: it must start with "#cloud-config"');
  });

  it('given broken YAML, should refuse it', () => {
    expect(() => renderUserData({ value: '#cloud-config\ninstall: [a\n' }, 'p')).toThrow(UnsupportedBootstrapData);
  });

  it('given write_files that is not a list, should refuse it', () => {
    expect(() => renderUserData({ value: '#cloud-config\nwrite_files: yes\n' }, 'p')).toThrow('write_files must be a list');
  });

  it('given a YAML list instead of a mapping, should refuse it', () => {
    expect(() => renderUserData({ value: '#cloud-config\n- a\n' }, 'p')).toThrow('must be a YAML mapping');
  });
});
