// The example app's sign-in tokens: `<payload>.<signature>`, both base64url, the payload
// `{"sub": userId, "exp": seconds since the epoch}` and the signature HMAC-SHA256 over the payload
// part with a server secret. A stand-in for whatever your login service issues (a JWT library
// verifies the same way): the point is that the server checks a signature instead of believing
// the userId a client claims.
import { createHmac, timingSafeEqual } from "node:crypto";

/** A token for `userId`, valid `ttlSeconds` from now. */
export function signToken(userId: string, secret: string, ttlSeconds = 3600, now = Date.now()): string {
  const payload = Buffer.from(JSON.stringify({ sub: userId, exp: Math.floor(now / 1000) + ttlSeconds })).toString("base64url");
  return `${payload}.${mac(payload, secret).toString("base64url")}`;
}

/** The user a token was issued for, or a reason it is not accepted. */
export function verifyToken(token: unknown, secret: string, now = Date.now()): { userId: string } | { error: string } {
  if (typeof token !== "string" || token.length > 1024) return { error: "a token (auth.token) is required" };
  const dot = token.indexOf(".");
  if (dot < 0) return { error: "malformed token" };
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), "base64url");
  const expected = mac(payload, secret);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { error: "bad signature" };
  let claims: { sub?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return { error: "malformed token" };
  }
  if (typeof claims.exp !== "number" || claims.exp * 1000 <= now) return { error: "token expired" };
  if (typeof claims.sub !== "string" || !/^[\w-]{1,64}$/.test(claims.sub)) return { error: "malformed token" };
  return { userId: claims.sub };
}

function mac(payload: string, secret: string): Buffer {
  return createHmac("sha256", secret).update(payload).digest();
}
