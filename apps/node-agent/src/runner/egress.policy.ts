import dns from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import type { Config, EgressAllowList, EgressTarget } from '@flotilla/config';
import { RuleViolationError, UnavailableError } from '@flotilla/domain';

/** An address a destination resolved to, and the only kind of address a request connects to. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

/** What a runtime needs from the policy: the check for its agent's tenant, and the reply cap. */
export interface EgressGuard {
  readonly tenantId: string | null;
  readonly maxResponseBytes: number;
  /** The addresses to connect to for this URL (every one of them allowed), or a typed refusal. */
  check(url: URL): Promise<readonly ResolvedAddress[]>;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const DENY_CACHE_MS = 30_000;

/**
 * Addresses no agent reaches unless an operator allows them: where a request from the node would
 * land on the node itself or its cloud (the metadata service is link-local), or nowhere useful.
 */
const BUILT_IN: readonly { cidr: string; prefix: number; family: 'ipv4' | 'ipv6'; what: string }[] = [
  { cidr: '0.0.0.0', prefix: 8, family: 'ipv4', what: 'unspecified' },
  { cidr: '127.0.0.0', prefix: 8, family: 'ipv4', what: 'loopback' },
  { cidr: '169.254.0.0', prefix: 16, family: 'ipv4', what: 'link-local (cloud metadata)' },
  { cidr: '224.0.0.0', prefix: 4, family: 'ipv4', what: 'multicast' },
  { cidr: '255.255.255.255', prefix: 32, family: 'ipv4', what: 'broadcast' },
  { cidr: '::', prefix: 128, family: 'ipv6', what: 'unspecified' },
  { cidr: '::1', prefix: 128, family: 'ipv6', what: 'loopback' },
  { cidr: '::', prefix: 96, family: 'ipv6', what: 'IPv4-compatible (deprecated)' },
  { cidr: 'fe80::', prefix: 10, family: 'ipv6', what: 'link-local (cloud metadata)' },
  { cidr: 'ff00::', prefix: 8, family: 'ipv6', what: 'multicast' },
];

const systemResolver: Resolver = async (host) =>
  (await dns.lookup(host, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

/** The 16 bytes of an IPv6 address (with or without an embedded dotted quad). */
function ipv6Bytes(address: string): number[] {
  let text = address.toLowerCase();
  const tail: number[] = [];
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    tail.push(...quad[1]!.split('.').map(Number));
    text = `${text.slice(0, -quad[1]!.length)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const groups = (s: string) => (s ? s.split(':') : []);
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const missing = 8 - left.length - right.length;
  const words = [...left, ...Array<string>(rest === undefined ? 0 : missing).fill('0'), ...right].map((w) => parseInt(w, 16));
  const bytes = words.flatMap((w) => [(w >> 8) & 0xff, w & 0xff]);
  if (quad) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** The IPv4 address an IPv6 one carries: IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d). */
function embeddedIpv4(address: string): { address: string; mapped: boolean } | null {
  const b = ipv6Bytes(address);
  const v4 = b.slice(12).join('.');
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return { address: v4, mapped: true };
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b.slice(4, 12).every((x) => x === 0)) return { address: v4, mapped: false };
  return null;
}

/** An IPv4-mapped IPv6 address is the IPv4 address it maps: the kernel connects to that. */
function normalise(a: ResolvedAddress): ResolvedAddress {
  if (a.family === 6) {
    const inner = embeddedIpv4(a.address);
    if (inner?.mapped) return { address: inner.address, family: 4 };
  }
  return a;
}

function blockOf(target: Extract<EgressTarget, { kind: 'cidr' }>): BlockList {
  const list = new BlockList();
  list.addSubnet(target.address, target.prefix, target.family === 4 ? 'ipv4' : 'ipv6');
  return list;
}

interface Rule {
  readonly target: EgressTarget;
  readonly block: BlockList | null;
}

const ruleOf = (target: EgressTarget): Rule => ({ target, block: target.kind === 'cidr' ? blockOf(target) : null });

/**
 * Where the http and openai runtimes may send requests. Every destination is resolved and each
 * address it resolves to is checked; the request then connects to exactly those addresses (the
 * client pins them), so a name that resolves differently a moment later (DNS rebinding) cannot
 * slip past the check.
 *
 * The decision for one address and port, most specific first, denial winning a tie:
 * 1. a control-plane destination with this port (AGENT_EGRESS_DENY) → denied;
 * 2. an allowed destination of the tenant (or of `*`) with this port (AGENT_EGRESS_ALLOW) → allowed;
 * 3. a control-plane destination without a port (AGENT_EGRESS_DENY, the NATS servers) → denied;
 * 4. an allowed destination of the tenant without a port → allowed;
 * 5. loopback, link-local, unspecified, multicast, broadcast → denied;
 * 6. anything else → allowed.
 * So an operator can open one port of a denied host (`acme=127.0.0.1:11434`), never a whole one.
 */
export class EgressPolicy {
  private readonly deny: readonly Rule[];
  private readonly allow: ReadonlyMap<string, readonly Rule[]>;
  private readonly builtIn: readonly { list: BlockList; what: string; family: 'ipv4' | 'ipv6' }[];
  private readonly denyAddresses = new Map<string, { at: number; addresses: Promise<readonly string[]> }>();

  constructor(
    rules: { readonly allow?: EgressAllowList; readonly deny?: readonly EgressTarget[] },
    private readonly options: { readonly resolve?: Resolver; readonly maxResponseBytes?: number; readonly now?: () => number } = {},
  ) {
    this.deny = (rules.deny ?? []).map(ruleOf);
    this.allow = new Map(Object.entries(rules.allow ?? {}).map(([tenant, targets]) => [tenant, targets.map(ruleOf)]));
    this.builtIn = BUILT_IN.map((b) => {
      const list = new BlockList();
      list.addSubnet(b.cidr, b.prefix, b.family);
      return { list, what: b.what, family: b.family };
    });
  }

  /** The node agent's policy: AGENT_EGRESS_ALLOW, AGENT_EGRESS_DENY plus the NATS servers it uses. */
  static fromConfig(
    config: Pick<Config, 'AGENT_EGRESS_ALLOW' | 'AGENT_EGRESS_DENY' | 'AGENT_MAX_RESPONSE_BYTES' | 'NATS_URL'>,
    resolve?: Resolver,
  ): EgressPolicy {
    const nats: EgressTarget[] = [];
    for (const url of config.NATS_URL) {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
      const family = isIP(host);
      nats.push(
        family
          ? { kind: 'cidr', family: family as 4 | 6, address: host, prefix: family === 4 ? 32 : 128, port: null, text: host }
          : { kind: 'host', host, port: null, text: host },
      );
    }
    return new EgressPolicy(
      { allow: config.AGENT_EGRESS_ALLOW, deny: [...config.AGENT_EGRESS_DENY, ...nats] },
      { maxResponseBytes: config.AGENT_MAX_RESPONSE_BYTES, ...(resolve ? { resolve } : {}) },
    );
  }

  get maxResponseBytes(): number {
    return this.options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  /** The policy as one agent's runtime sees it: checks under its cluster's tenant. */
  forTenant(tenantId: string | null): EgressGuard {
    return { tenantId, maxResponseBytes: this.maxResponseBytes, check: (url) => this.check(url, tenantId) };
  }

  async check(url: URL, tenantId: string | null): Promise<readonly ResolvedAddress[]> {
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const literal = isIP(host);
    let addresses: ResolvedAddress[];
    try {
      addresses = literal ? [{ address: host, family: literal as 4 | 6 }] : await this.resolver(host);
    } catch (err) {
      throw new UnavailableError(`cannot resolve '${host}': ${(err as Error).message}`, { host });
    }
    if (addresses.length === 0) throw new UnavailableError(`'${host}' resolves to no address`, { host });
    const checked: ResolvedAddress[] = [];
    for (const resolved of addresses) {
      const a = normalise(resolved);
      const refusal = await this.refusal(host, a, port, tenantId);
      if (refusal) {
        throw new RuleViolationError(
          'egress_denied',
          `agents may not reach ${host}:${port}${literal ? '' : ` (${a.address})`}: ${refusal}`,
          {
            host,
            port,
            address: a.address,
            reason: refusal,
            tenant_id: tenantId,
          },
        );
      }
      checked.push(a);
    }
    return checked;
  }

  /** Why this address may not be reached, or undefined when it may (see the class comment). */
  private async refusal(host: string, a: ResolvedAddress, port: number, tenantId: string | null): Promise<string | undefined> {
    const allow = [...(this.allow.get('*') ?? []), ...(tenantId ? (this.allow.get(tenantId) ?? []) : [])];
    const denied = async (withPort: boolean) => {
      for (const rule of this.deny) {
        if ((rule.target.port !== null) !== withPort || (withPort && rule.target.port !== port)) continue;
        if (await this.denyMatches(rule, host, a)) return true;
      }
      return false;
    };
    const allowed = (withPort: boolean) =>
      allow.some(
        (rule) =>
          (rule.target.port !== null) === withPort &&
          (!withPort || rule.target.port === port) &&
          (rule.target.kind === 'host' ? rule.target.host === host : this.inBlock(rule, a)),
      );
    if (await denied(true)) return 'a control-plane destination (AGENT_EGRESS_DENY)';
    if (allowed(true)) return undefined;
    if (await denied(false)) return 'a control-plane destination (AGENT_EGRESS_DENY or a NATS server)';
    if (allowed(false)) return undefined;
    const builtIn = this.builtInReason(a);
    if (builtIn) return `${builtIn} addresses are closed to agents unless AGENT_EGRESS_ALLOW opens them for tenant '${tenantId ?? '?'}'`;
    return undefined;
  }

  private builtInReason(a: ResolvedAddress): string | undefined {
    const family = a.family === 4 ? 'ipv4' : 'ipv6';
    const hit = this.builtIn.find((b) => b.family === family && b.list.check(a.address, family));
    if (hit) return hit.what;
    // NAT64 carries an IPv4 address that a gateway will connect to: judge that one too.
    const inner = a.family === 6 ? embeddedIpv4(a.address) : null;
    return inner ? this.builtInReason({ address: inner.address, family: 4 }) : undefined;
  }

  private inBlock(rule: Rule, a: ResolvedAddress): boolean {
    return rule.block !== null && rule.block.check(a.address, a.family === 4 ? 'ipv4' : 'ipv6');
  }

  private async denyMatches(rule: Rule, host: string, a: ResolvedAddress): Promise<boolean> {
    if (rule.target.kind === 'cidr') return this.inBlock(rule, a);
    if (rule.target.host === host) return true;
    // A denied name covers whatever it resolves to, so an agent cannot use the address instead.
    const addresses = await this.addressesOf(rule.target.host);
    return addresses.includes(a.address);
  }

  private addressesOf(host: string): Promise<readonly string[]> {
    const now = (this.options.now ?? Date.now)();
    const cached = this.denyAddresses.get(host);
    if (cached && now - cached.at < DENY_CACHE_MS) return cached.addresses;
    const addresses = this.resolver(host).then(
      (list) => list.map((x) => normalise(x).address),
      // A control-plane name that does not resolve here cannot be reached through DNS either.
      () => [] as string[],
    );
    this.denyAddresses.set(host, { at: now, addresses });
    return addresses;
  }

  private get resolver(): Resolver {
    return this.options.resolve ?? systemResolver;
  }
}
