// The session cookie Socket.IO sets on the handshake when its `cookie` option is on: the session
// id under a name, for load balancers that route by cookie (sticky sessions). Pure: knows no sessions.

export interface CookieOptions {
  /** Default "io". */
  name?: string;
  /** Default "/"; `false` leaves Path (and, by default, HttpOnly) out. */
  path?: string | false;
  /** Default: true unless `path` is false. */
  httpOnly?: boolean;
  /** Default "lax". */
  sameSite?: "lax" | "strict" | "none" | boolean;
  secure?: boolean;
  domain?: string;
  /** Seconds. */
  maxAge?: number;
  expires?: Date;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The options with Socket.IO's defaults; throws TypeError on a name or domain that cannot be sent. */
export function resolveCookie(opt: boolean | CookieOptions | undefined): CookieOptions | null {
  if (!opt) return null;
  const given = opt === true ? {} : opt;
  const cookie = { name: "io", path: "/", httpOnly: given.path !== false, sameSite: "lax" as const, ...given };
  if (!TOKEN.test(cookie.name)) throw new TypeError(`cookie.name ${JSON.stringify(cookie.name)} is not a valid cookie name`);
  if (cookie.domain !== undefined && !/^[\w.-]+$/.test(cookie.domain)) throw new TypeError(`cookie.domain ${JSON.stringify(cookie.domain)} is invalid`);
  return cookie;
}

/** The Set-Cookie value for session `sid` (url-safe, so unescaped). */
export function sessionCookie(c: CookieOptions, sid: string): string {
  let s = `${c.name}=${sid}`;
  if (c.maxAge !== undefined) s += `; Max-Age=${Math.floor(c.maxAge)}`;
  if (c.domain) s += `; Domain=${c.domain}`;
  if (c.path) s += `; Path=${c.path}`;
  if (c.expires) s += `; Expires=${c.expires.toUTCString()}`;
  if (c.httpOnly) s += "; HttpOnly";
  if (c.sameSite) s += `; SameSite=${c.sameSite === true ? "Strict" : c.sameSite[0].toUpperCase() + c.sameSite.slice(1)}`;
  if (c.secure) s += "; Secure";
  return s;
}
