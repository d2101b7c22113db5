/**
 * Which URLs a webhook may target. The point is SSRF: a tenant must not make Eventline call into
 * private networks, loopback, link-local or cloud metadata services. The WHATWG URL parser already
 * normalizes IPv4 tricks (`http://2130706433`, `http://0x7f.1`, `http://0177.0.0.1` all become
 * `127.0.0.1`) and IPv6 spellings, so the checks below run on the canonical host.
 *
 * With `allowPrivate` (local development and tests only) `http:` and private hosts are accepted.
 */

export const MAX_URL_LENGTH = 2048;

/** IPv4 ranges that are not the public internet (RFC 6890 special-purpose registry, the parts that matter). */
const BLOCKED_V4: readonly [string, number][] = [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT (also Alibaba's metadata 100.100.100.200)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata 169.254.169.254
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

const BLOCKED_HOSTNAMES = new Set(['localhost', 'metadata', 'metadata.google.internal', 'instance-data', 'metadata.azure.com']);
// Kubernetes service names (`api.default.svc`, `….svc.cluster.local`) resolve to cluster-internal addresses.
const BLOCKED_SUFFIXES = ['.localhost', '.local', '.localdomain', '.internal', '.home.arpa', '.intranet', '.lan', '.svc', '.cluster.local', '.svc.cluster.local'];

function v4ToInt(ip: string): number | null {
  const parts = ip.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

export function isBlockedIPv4(ip: string): boolean {
  const n = v4ToInt(ip);
  if (n === null) return false;
  return BLOCKED_V4.some(([base, bits]) => {
    const b = v4ToInt(base)!;
    const size = 2 ** (32 - bits);
    return n >= b && n < b + size;
  });
}

/** `::ffff:7f00:1` → [0,0,0,0,0,0xffff,0x7f00,1]; null when not an IPv6 literal. */
function parseIPv6(text: string): number[] | null {
  let s = text;
  // A trailing dotted quad (::ffff:127.0.0.1) becomes two hextets.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const n = v4ToInt(dotted[1]!);
    if (n === null) return null;
    s = `${s.slice(0, -dotted[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? head.length !== 8 : missing < 0) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  const out: number[] = [];
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return null;
    out.push(parseInt(g, 16));
  }
  return out.length === 8 ? out : null;
}

/**
 * The IPv4 addresses an IPv6 address carries inside it, by the transition mechanisms that route to
 * them: a router or relay on the way turns the IPv6 packet into an IPv4 one for that address, so the
 * IPv4 rules must hold for each. Teredo carries two (its server, and the client obfuscated by XOR).
 */
function embeddedIPv4(h: number[]): string[] {
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zeros = (from: number, to: number) => h.slice(from, to).every((x) => x === 0);
  const out: string[] = [];
  if (zeros(0, 5) && (h[5] === 0xffff || h[5] === 0)) out.push(v4(h[6]!, h[7]!)); // ::ffff:a.b.c.d mapped, ::a.b.c.d compatible
  if (zeros(0, 4) && h[4] === 0xffff && h[5] === 0) out.push(v4(h[6]!, h[7]!)); // ::ffff:0:a.b.c.d translated (RFC 2765)
  if (h[0] === 0x0064 && h[1] === 0xff9b) out.push(v4(h[6]!, h[7]!)); // NAT64 64:ff9b::/96 and 64:ff9b:1::/48
  if (h[0] === 0x2002) out.push(v4(h[1]!, h[2]!)); // 6to4 2002:aabb:ccdd::/48
  if (h[0] === 0x2001 && h[1] === 0) out.push(v4(h[2]!, h[3]!), v4(h[6]! ^ 0xffff, h[7]! ^ 0xffff)); // Teredo
  if ((h[4]! & 0xfdff) === 0 && h[5] === 0x5efe) out.push(v4(h[6]!, h[7]!)); // ISATAP interface id ::0:5efe:a.b.c.d
  return out;
}

export function isBlockedIPv6(text: string): boolean {
  const h = parseIPv6(text);
  if (!h) return false;
  const zeros = (from: number, to: number) => h.slice(from, to).every((x) => x === 0);
  if (zeros(0, 8)) return true; // :: unspecified
  if (zeros(0, 7) && h[7] === 1) return true; // ::1 loopback
  // Mapped, translated and compatible addresses exist only to reach an IPv4 host: a public endpoint is
  // reachable by its IPv4 form, so none of them is accepted whatever it embeds.
  if (zeros(0, 5) && (h[5] === 0xffff || h[5] === 0)) return true;
  if (zeros(0, 4) && h[4] === 0xffff && h[5] === 0) return true;
  // NAT64 and Teredo hand the packet to a translator or relay of someone else's network (a NAT64
  // gateway inside a cluster reaches its private IPv4 range): refused whole, like the private ranges.
  if (h[0] === 0x0064 && h[1] === 0xff9b && (zeros(2, 6) || h[2] === 1)) return true;
  if (h[0] === 0x2001 && h[1] === 0) return true;
  if (embeddedIPv4(h).some(isBlockedIPv4)) return true; // 6to4, ISATAP: the embedded IPv4 rules hold
  if ((h[0]! & 0xfe00) === 0xfc00) return true; // fc00::/7 unique local (AWS metadata fd00:ec2::254)
  if ((h[0]! & 0xffc0) === 0xfe80) return true; // fe80::/10 link-local
  if ((h[0]! & 0xffc0) === 0xfec0) return true; // fec0::/10 site-local (deprecated)
  if ((h[0]! & 0xff00) === 0xff00) return true; // multicast
  if (h[0] === 0x2001 && h[1] === 0x0db8) return true; // documentation
  if (h[0] === 0x0100 && zeros(1, 4)) return true; // discard-only
  return false;
}

/** Why `raw` may not be a webhook URL, or null when it may. */
export function webhookUrlProblem(raw: string, allowPrivate: boolean): string | null {
  if (raw.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) return 'must use https';
  if (url.username || url.password) return 'must not contain credentials; use custom headers instead';
  if (url.hash) return 'must not contain a fragment';
  if (allowPrivate) return null;
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (host === '') return 'must name a host';
  if (host.startsWith('[')) {
    return isBlockedIPv6(host.slice(1, -1)) ? 'must not target a private, loopback, link-local or reserved IPv6 address' : null;
  }
  if (v4ToInt(host) !== null) {
    return isBlockedIPv4(host) ? 'must not target a private, loopback, link-local, metadata or reserved IPv4 address' : null;
  }
  if (BLOCKED_HOSTNAMES.has(host) || BLOCKED_SUFFIXES.some((s) => host.endsWith(s))) return 'must not target a local or internal host name';
  // A bare name without a dot resolves only inside some private network.
  if (!host.includes('.')) return 'must use a fully qualified public host name';
  return null;
}
