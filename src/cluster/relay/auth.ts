// The relay's client authentication, as nats-server spells it: a token (CONNECT `auth_token`) or a
// user and password (CONNECT `user` / `pass`), checked in constant time; a client that does not
// authenticate within the timeout is closed. Knows nothing of subjects or connections.
import { createHash, timingSafeEqual } from "node:crypto";

export interface RelayAuthOptions {
  /** Shared token clients must present (nats-server `authorization { token }`). */
  token?: string;
  /** User and password clients must present (nats-server `authorization { user, password }`). */
  user?: string;
  pass?: string;
  /** Ms a client has to send an authorized CONNECT (nats-server's auth_timeout; default 2000). */
  authTimeout?: number;
}

export class RelayAuth {
  private constructor(
    private readonly token: Buffer | null,
    private readonly user: Buffer | null,
    private readonly pass: Buffer | null,
    readonly timeoutMs: number,
  ) {}

  /** The auth a relay with these options requires, or null when it requires none. */
  static from(opts: RelayAuthOptions): RelayAuth | null {
    const { token, user, pass } = opts;
    if (token === undefined && user === undefined && pass === undefined) return null;
    if (token !== undefined && (typeof token !== "string" || token.length === 0)) throw new TypeError("relay: `token` must be a non-empty string");
    if ((user === undefined) !== (pass === undefined)) throw new TypeError("relay: `user` and `pass` go together");
    if (user !== undefined && (typeof user !== "string" || typeof pass !== "string" || user.length === 0 || pass!.length === 0)) {
      throw new TypeError("relay: `user` and `pass` must be non-empty strings");
    }
    if (token !== undefined && user !== undefined) throw new TypeError("relay: use either `token` or `user`/`pass`, not both (as nats-server)");
    return new RelayAuth(digest(token), digest(user), digest(pass), opts.authTimeout ?? 2000);
  }

  /** Whether a CONNECT's fields carry the required credentials. */
  check(connect: Record<string, unknown>): boolean {
    if (this.token) return same(this.token, connect.auth_token);
    return same(this.user!, connect.user) && same(this.pass!, connect.pass);
  }
}

/** Hashed so that comparisons are of equal length (timingSafeEqual needs it) and leak nothing. */
function digest(s: string | undefined): Buffer | null {
  return s === undefined ? null : createHash("sha256").update(s).digest();
}

function same(expected: Buffer, given: unknown): boolean {
  return typeof given === "string" && timingSafeEqual(expected, digest(given)!);
}
