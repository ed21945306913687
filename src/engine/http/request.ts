// The upgrade request as Socket.IO's handshake and `allowRequest` see it: built once per
// connection and shared by every namespace socket of it (no copies), its strings interned. Knows no
// sessions or transports.

/** What `allowRequest` sees of the upgrade request. */
export interface RequestInfo {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly query: Record<string, string>;
  readonly remoteAddress: string;
}

export class UpgradeRequest implements RequestInfo {
  readonly query: Record<string, string>;

  constructor(
    readonly method: string,
    private readonly path: string,
    private readonly queryString: string,
    readonly headers: Record<string, string>,
    readonly remoteAddress: string,
    /** Whether the client reached us over TLS (here, or at a trusted proxy). */
    readonly secure = false,
  ) {
    this.query = parseQuery(queryString);
  }

  /** Joined when read: kept as one string per connection it would be a rope of three. */
  get url(): string {
    return this.queryString ? this.path + "?" + this.queryString : this.path;
  }
}

/** A query string into an object (last value wins); cheaper than URLSearchParams per upgrade. */
function parseQuery(qs: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (qs.length === 0) return out;
  for (const pair of qs.split("&")) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf("=");
    const k = eq < 0 ? pair : pair.slice(0, eq);
    const v = eq < 0 ? "" : pair.slice(eq + 1);
    out[decodeComponent(k)] = shared(decodeComponent(v));
  }
  return out;
}

/** Handshake strings repeat across connections (user agents, "websocket", hosts, plain query
 *  strings): one copy each instead of one per connection. Bounded, short strings only, in two
 *  generations: strings seen again survive a turnover, unique ones (tokens) age out. */
const GENERATION = 4096;
let recent = new Map<string, string>();
let older = new Map<string, string>();
export function shared(s: string): string {
  if (s.length > 256) return s;
  const known = recent.get(s);
  if (known !== undefined) return known;
  const kept = older.get(s) ?? s;
  if (recent.size >= GENERATION) {
    older = recent;
    recent = new Map();
  }
  recent.set(kept, kept);
  return kept;
}

function decodeComponent(s: string): string {
  if (!/[%+]/.test(s)) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s; // malformed escapes stay as sent
  }
}
