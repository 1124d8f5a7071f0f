import { describe, expect, it } from '@jest/globals';
import { loadConfig, parseEgressAllowList, parseEgressTargets } from '@flotilla/config';
import { RuleViolationError, UnavailableError } from '@flotilla/domain';
import { EgressPolicy, type ResolvedAddress } from './egress.policy.js';

const failure = async (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );
/** A resolver from a fixed table (no DNS in unit tests). */
const table =
  (entries: Record<string, string[]>) =>
  async (host: string): Promise<ResolvedAddress[]> => {
    const found = entries[host];
    if (!found) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
    return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
const verdict = async (policy: EgressPolicy, url: string, tenant: string | null = 'acme') => {
  const err = await failure(policy.check(new URL(url), tenant));
  if (err === undefined) return 'allowed';
  if (err instanceof RuleViolationError) return 'denied';
  throw err;
};

describe('egress policy: the HTTP runtime is no open proxy', () => {
  const dns = table({
    'api.example.com': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
    'metadata.example.com': ['169.254.169.254'],
    'llm.internal': ['10.0.5.7'],
    postgres: ['10.0.9.9'],
    'two-faced.example.com': ['93.184.215.14', '127.0.0.1'],
  });

  it('allows public destinations and denies the built-in ranges, including IPv6 and mapped forms', async () => {
    const policy = new EgressPolicy({}, { resolve: dns });
    expect(await verdict(policy, 'https://api.example.com/v1')).toBe('allowed');
    for (const url of [
      'http://127.0.0.1/',
      'http://127.1.2.3:8080/',
      'http://0.0.0.0/',
      'http://169.254.169.254/latest/meta-data/',
      'http://metadata.example.com/',
      'http://[::1]/',
      'http://[::]/',
      'http://[fe80::a9fe:a9fe]/',
      'http://[::ffff:169.254.169.254]/',
      'http://[::ffff:7f00:1]/',
      'http://[64:ff9b::a9fe:a9fe]/',
      'http://224.0.0.1/',
      'http://two-faced.example.com/',
    ])
      expect([url, await verdict(policy, url)]).toEqual([url, 'denied']);
  });

  it('names the tenant, the address and the reason when it refuses', async () => {
    const err = await failure(new EgressPolicy({}, { resolve: dns }).check(new URL('http://metadata.example.com/x'), 'acme'));
    expect(err).toBeInstanceOf(RuleViolationError);
    expect((err as RuleViolationError).details).toMatchObject({
      rule: 'egress_denied',
      host: 'metadata.example.com',
      address: '169.254.169.254',
      port: 80,
      tenant_id: 'acme',
      reason: expect.stringContaining('link-local'),
    });
  });

  it('opens what AGENT_EGRESS_ALLOW names, per tenant or for every tenant (*)', async () => {
    const policy = new EgressPolicy(
      { allow: parseEgressAllowList('acme=127.0.0.1:11434,llm.internal;*=169.254.10.0/24;globex=[::1]:8080') },
      { resolve: dns },
    );
    expect(await verdict(policy, 'http://127.0.0.1:11434/v1')).toBe('allowed');
    expect(await verdict(policy, 'http://127.0.0.1:11435/v1')).toBe('denied');
    expect(await verdict(policy, 'http://127.0.0.1:11434/v1', 'globex')).toBe('denied');
    expect(await verdict(policy, 'http://[::1]:8080/', 'globex')).toBe('allowed');
    expect(await verdict(policy, 'http://169.254.10.3/', 'globex')).toBe('allowed');
    expect(await verdict(policy, 'http://169.254.169.254/', 'globex')).toBe('denied');
    // An assignment without a tenant (recorded before tenants were carried) gets only '*'.
    expect(await verdict(policy, 'http://127.0.0.1:11434/v1', null)).toBe('denied');
    expect(await verdict(policy, 'http://169.254.10.3/', null)).toBe('allowed');
  });

  it('keeps the control plane closed: a denied host beats a host-wide allowance, a denied port beats everything', async () => {
    const policy = EgressPolicy.fromConfig(
      loadConfig({
        NATS_URL: 'nats://nats.internal:4222',
        AGENT_EGRESS_DENY: 'postgres,10.0.0.0/8,127.0.0.1:5432',
        AGENT_EGRESS_ALLOW: 'acme=10.0.0.0/8,127.0.0.1,10.0.5.7:11434,127.0.0.1:5432',
      }),
      table({ 'nats.internal': ['10.0.1.1'], postgres: ['10.0.9.9'], 'llm.internal': ['10.0.5.7'] }),
    );
    // NATS and PostgreSQL by name or by address, whatever the allowances without a port.
    expect(await verdict(policy, 'http://nats.internal:8222/varz')).toBe('denied');
    expect(await verdict(policy, 'http://10.0.1.1:4222/')).toBe('denied');
    expect(await verdict(policy, 'http://postgres:5432/')).toBe('denied');
    expect(await verdict(policy, 'http://10.0.9.9:5432/')).toBe('denied');
    expect(await verdict(policy, 'http://llm.internal/')).toBe('denied');
    // One port of a denied range, named with its port, opens.
    expect(await verdict(policy, 'http://llm.internal:11434/v1')).toBe('allowed');
    // A denial with a port is final.
    expect(await verdict(policy, 'http://127.0.0.1:5432/')).toBe('denied');
    expect(await verdict(policy, 'http://127.0.0.1:8080/')).toBe('allowed');
  });

  it('fails as unavailable (worth a retry) when a name does not resolve', async () => {
    expect(await failure(new EgressPolicy({}, { resolve: dns }).check(new URL('http://nowhere.example.com/'), 'acme'))).toBeInstanceOf(
      UnavailableError,
    );
  });

  it('takes its settings from the configuration, and refuses a malformed one at start', () => {
    const policy = EgressPolicy.fromConfig(loadConfig({}));
    expect(policy.maxResponseBytes).toBe(4 * 1024 * 1024);
    expect(parseEgressTargets('10.0.0.0/8, [fd00::1]:443 llm.internal:8443').map((t) => t.kind)).toEqual(['cidr', 'cidr', 'host']);
    for (const bad of ['acme', 'acme=', 'ACME=10.0.0.0/8', 'acme=10.0.0.0/33', 'acme=host:99999', 'acme=no/such!host'])
      expect(() => loadConfig({ AGENT_EGRESS_ALLOW: bad })).toThrow(/AGENT_EGRESS_ALLOW/);
    expect(() => loadConfig({ AGENT_EGRESS_DENY: '300.1.1.1/8' })).toThrow(/AGENT_EGRESS_DENY/);
  });
});
