import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * One destination of the node agents' egress policy, as an operator writes it:
 * `10.0.0.0/8`, `fe80::/10`, `127.0.0.1`, `127.0.0.1:11434`, `[::1]:8080`, `llm.internal`,
 * `llm.internal:443`. A port narrows the entry to that port; without one it covers every port.
 */
export type EgressTarget =
  | {
      readonly kind: 'cidr';
      readonly family: 4 | 6;
      readonly address: string;
      readonly prefix: number;
      readonly port: number | null;
      readonly text: string;
    }
  | { readonly kind: 'host'; readonly host: string; readonly port: number | null; readonly text: string };

/** Destinations per tenant; `*` holds those every tenant may reach. */
export type EgressAllowList = Readonly<Record<string, readonly EgressTarget[]>>;

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/;
const TENANT = /^(\*|[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?)$/;

function parsePort(text: string, entry: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535)
    throw new Error(`'${entry}': the port must be a number between 1 and 65535`);
  return port;
}

/** Parses one destination; throws an Error saying what is wrong with it. */
export function parseEgressTarget(raw: string): EgressTarget {
  const text = raw.trim().toLowerCase();
  if (!text) throw new Error('an empty destination');
  const bracketed = /^\[([0-9a-f:.]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    if (isIP(bracketed[1]!) !== 6) throw new Error(`'${raw}': not an IPv6 address`);
    const port = bracketed[2] === undefined ? null : parsePort(bracketed[2], raw);
    return { kind: 'cidr', family: 6, address: bracketed[1]!, prefix: 128, port, text };
  }
  if (text.includes('/')) {
    const [address = '', bits = ''] = text.split('/');
    const family = isIP(address);
    const prefix = Number(bits);
    if (family === 0) throw new Error(`'${raw}': a CIDR block needs an IP address before the /`);
    if (!/^\d{1,3}$/.test(bits) || prefix > (family === 4 ? 32 : 128))
      throw new Error(`'${raw}': the prefix length must be 0-${family === 4 ? 32 : 128}`);
    return { kind: 'cidr', family: family as 4 | 6, address, prefix, port: null, text };
  }
  if (isIP(text) === 6) return { kind: 'cidr', family: 6, address: text, prefix: 128, port: null, text };
  const colon = text.lastIndexOf(':');
  const host = colon >= 0 ? text.slice(0, colon) : text;
  const port = colon >= 0 ? parsePort(text.slice(colon + 1), raw) : null;
  if (isIP(host) === 4) return { kind: 'cidr', family: 4, address: host, prefix: 32, port, text };
  if (!HOSTNAME.test(host))
    throw new Error(`'${raw}': expected a CIDR block, an IP address or a host name, each with an optional :port`);
  return { kind: 'host', host: host.replace(/\.$/, ''), port, text };
}

/** A comma- (or space-) separated list of destinations. */
export function parseEgressTargets(text: string): EgressTarget[] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(parseEgressTarget);
}

/** `tenant=dest[,dest...][;tenant=dest...]`, `*` for every tenant. */
export function parseEgressAllowList(text: string): EgressAllowList {
  const out: Record<string, EgressTarget[]> = {};
  for (const part of text.split(';').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`'${part}': expected <tenant>=<destination>[,<destination>...] ('*' for every tenant)`);
    const tenant = part.slice(0, eq).trim();
    if (!TENANT.test(tenant)) throw new Error(`'${tenant}': expected a tenant id or '*'`);
    const targets = parseEgressTargets(part.slice(eq + 1));
    if (targets.length === 0) throw new Error(`'${part}': no destination after '='`);
    out[tenant] = [...(out[tenant] ?? []), ...targets];
  }
  return out;
}

/** The zod schemas of AGENT_EGRESS_ALLOW and AGENT_EGRESS_DENY: a bad entry stops the node agent at start. */
export const egressAllowSchema = z
  .string()
  .default('')
  .transform((text, ctx): EgressAllowList => {
    try {
      return parseEgressAllowList(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

export const egressTargetsSchema = z
  .string()
  .default('')
  .transform((text, ctx): readonly EgressTarget[] => {
    try {
      return parseEgressTargets(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
