// Where a webhook may connect: never to the gateway's own network (loopback, private, link-local,
// CGNAT, multicast, unspecified, cloud metadata) unless the operator allow-lists it. The check is
// made on the address actually dialled, after DNS, so a name that resolves (or re-resolves) to an
// inside address is refused too.
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, isIPv4 } from 'node:net';

/** IPv4 ranges a webhook must not reach (RFC 6890 special-purpose and private space). */
const FORBIDDEN_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT (also Alibaba's metadata address)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];

/** IPv6 ranges a webhook must not reach; IPv4 embedded in mapped, NAT64 and 6to4 forms is checked as IPv4. */
const FORBIDDEN_V6: Array<[string, number]> = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::', 96], // IPv4-compatible (deprecated)
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID …)
  ['fc00::', 7], // unique local (private; AWS metadata fd00:ec2::254)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

function blockList(): BlockList {
  const list = new BlockList();
  for (const [net, prefix] of FORBIDDEN_V4) list.addSubnet(net, prefix, 'ipv4');
  for (const [net, prefix] of FORBIDDEN_V6) list.addSubnet(net, prefix, 'ipv6');
  return list;
}

/** The 16 bytes of an IPv6 address (Node has validated it). */
function ipv6Bytes(ip: string): number[] {
  let text = ip.split('%')[0];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    text = `${text.slice(0, -v4[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const n = Number.parseInt(g || '0', 16);
    return [n >> 8, n & 0xff];
  });
}

/** The IPv4 address carried inside an IPv6 one (IPv4-mapped, NAT64, 6to4), if any. */
function embeddedIpv4(ip: string): string | undefined {
  const b = ipv6Bytes(ip);
  const quad = (o: number) => b.slice(o, o + 4).join('.');
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return quad(12); // ::ffff:a.b.c.d
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return quad(12); // 64:ff9b::/96
  if (b[0] === 0x20 && b[1] === 0x02) return quad(2); // 2002:aabb:ccdd::/16
  return undefined;
}

/**
 * Host names that always mean the gateway's own machine (RFC 6761 `localhost` and every name
 * under it, and the usual hosts-file aliases) or a cloud's metadata service. They are refused by
 * name, before any lookup, whatever DNS would answer for them.
 */
const INSIDE_NAMES = new Set([
  'localhost',
  'localhost.localdomain',
  'ip6-localhost',
  'ip6-loopback',
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
]);

/** A host name as compared: lower case, without the trailing dots a fully qualified name may carry. */
export function canonicalHostName(host: string): string {
  return host.toLowerCase().replace(/\.+$/, '');
}

/** True for a loopback or metadata name (`localhost.`, `Foo.LOCALHOST`, `metadata.google.internal` …). */
export function isInsideName(host: string): boolean {
  const name = canonicalHostName(host);
  return INSIDE_NAMES.has(name) || name.endsWith('.localhost');
}

export interface TargetPolicyOptions {
  /** Operator switch: deliver anywhere, inside addresses included (development only). */
  allowPrivate: boolean;
  /** Host names (exact, case-insensitive), IP addresses and CIDR ranges that may be inside addresses. */
  allowedHosts: readonly string[];
}

export class TargetRefusedError extends Error {
  constructor(host: string, byName = false) {
    super(
      byName
        ? `webhook target ${host} is a loopback or metadata name, which alerts.allowed_hosts does not allow`
        : `webhook target ${host} resolves only to addresses inside the gateway's network, which alerts.allowed_hosts does not allow`,
    );
    this.name = 'TargetRefusedError';
  }
}

export type Resolver = (host: string) => Promise<Array<{ address: string; family: number }>>;

/** Decides which addresses a webhook may dial. Built once from the config. */
export class TargetPolicy {
  private readonly forbidden = blockList();
  private readonly allowedRanges = new BlockList();
  private readonly allowedNames = new Set<string>();

  constructor(
    private readonly opts: TargetPolicyOptions,
    private readonly resolve: Resolver = (host) => dnsLookup(host, { all: true, verbatim: true }),
  ) {
    for (const entry of opts.allowedHosts) {
      const [net, bits] = entry.split('/');
      const family = isIP(net);
      if (family === 0) this.allowedNames.add(canonicalHostName(entry));
      else if (bits === undefined) this.allowedRanges.addAddress(net, family === 4 ? 'ipv4' : 'ipv6');
      else this.allowedRanges.addSubnet(net, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
    }
  }

  /** True when `ip` is inside the gateway's network (loopback, private, metadata …). */
  isInside(ip: string): boolean {
    if (isIPv4(ip)) return this.forbidden.check(ip, 'ipv4');
    const v4 = embeddedIpv4(ip);
    if (v4 !== undefined && this.forbidden.check(v4, 'ipv4')) return true;
    return this.forbidden.check(ip.split('%')[0], 'ipv6');
  }

  private allowedAddress(ip: string): boolean {
    if (this.opts.allowPrivate || !this.isInside(ip)) return true;
    const plain = ip.split('%')[0];
    if (this.allowedRanges.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6')) return true;
    const v4 = isIPv4(plain) ? undefined : embeddedIpv4(plain);
    return v4 !== undefined && this.allowedRanges.check(v4, 'ipv4');
  }

  /**
   * Why the host is refused when settings are saved, before any lookup: a literal inside address
   * or a loopback or metadata name the operator has not allowed. `undefined` when it may be saved
   * (a host name is checked again on the address it resolves to at each delivery).
   */
  refusalOnSave(hostname: string): 'address' | 'name' | undefined {
    const host = stripBrackets(hostname);
    if (isIP(host) !== 0) return this.allowedAddress(host) ? undefined : 'address';
    return this.refusesName(host) ? 'name' : undefined;
  }

  private refusesName(host: string): boolean {
    return !this.opts.allowPrivate && isInsideName(host) && !this.allowedNames.has(canonicalHostName(host));
  }

  /** The address to dial for `hostname`: the first resolved one the policy allows. */
  async pick(hostname: string): Promise<string> {
    const host = stripBrackets(hostname);
    if (isIP(host) === 0 && this.refusesName(host)) throw new TargetRefusedError(host, true);
    const named = this.allowedNames.has(canonicalHostName(host));
    const candidates = isIP(host) !== 0 ? [host] : (await this.resolve(host)).map((a) => a.address);
    const ok = candidates.find((ip) => named || this.allowedAddress(ip));
    if (ok === undefined) throw new TargetRefusedError(host);
    return ok;
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
