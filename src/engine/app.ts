// The uWS app a server runs on: plain (uWS.App) or TLS (uWS.SSLApp from key and certificate
// files), and the permessage-deflate setting mapped to uWS's compressors. Checks the files up
// front, since uWS reports a bad key or certificate only as a failed listen. Knows no sessions.
import { accessSync, constants } from "node:fs";
import uWS, { type TemplatedApp } from "./uws.ts";

export interface TlsOptions {
  /** Path of the PEM private key. */
  key: string;
  /** Path of the PEM certificate (chain). */
  cert: string;
  /** Passphrase of an encrypted key. */
  passphrase?: string;
  /** Path of a PEM CA bundle (to verify client certificates). */
  ca?: string;
}

/** compressor "shared" (default): one compressor for all connections (little memory, less
 *  ratio); "dedicated-<n>kb": a sliding window of n KB per connection. threshold: frames smaller
 *  than this many bytes go uncompressed (default 1024, Socket.IO's). */
export type Compressor = "shared" | `dedicated-${3 | 4 | 8 | 16 | 32 | 64 | 128 | 256}kb`;
export type PerMessageDeflate = boolean | { compressor?: Compressor; threshold?: number };

/** Frames from this many bytes up are compressed; Infinity when compression is off. */
export function compressThreshold(option: PerMessageDeflate | undefined): number {
  if (!option) return Number.POSITIVE_INFINITY;
  const t = option === true ? undefined : option.threshold;
  if (t === undefined) return 1024;
  if (!Number.isFinite(t) || t < 0) throw new TypeError(`roomgate: perMessageDeflate.threshold must be a number of bytes >= 0, got ${t}`);
  return t;
}

export function createApp(tls: TlsOptions | undefined): TemplatedApp {
  if (!tls) return uWS.App();
  for (const [name, path] of [
    ["key", tls.key],
    ["cert", tls.cert],
    ["ca", tls.ca],
  ] as const) {
    if (path === undefined) continue;
    if (typeof path !== "string" || path.length === 0) throw new TypeError(`roomgate: tls.${name} must be a file path`);
    try {
      accessSync(path, constants.R_OK);
    } catch {
      throw new TypeError(`roomgate: tls.${name} file ${path} cannot be read`);
    }
  }
  return uWS.SSLApp({
    key_file_name: tls.key,
    cert_file_name: tls.cert,
    ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
    ...(tls.ca !== undefined ? { ca_file_name: tls.ca } : {}),
  });
}

/** uWS's `compression` value for the option (compressor and decompressor of the same kind). */
export function compressionFor(option: PerMessageDeflate | undefined): number {
  if (!option) return uWS.DISABLED;
  const kind = option === true ? "shared" : (option.compressor ?? "shared");
  if (kind === "shared") return uWS.SHARED_COMPRESSOR | uWS.SHARED_DECOMPRESSOR;
  const m = /^dedicated-(3|4|8|16|32|64|128|256)kb$/.exec(String(kind));
  if (!m) throw new TypeError(`roomgate: perMessageDeflate.compressor must be "shared" or "dedicated-<3|4|8|...|256>kb", got ${JSON.stringify(kind)}`);
  const compressor = (uWS as unknown as Record<string, number>)[`DEDICATED_COMPRESSOR_${m[1]}KB`];
  return compressor | uWS.DEDICATED_DECOMPRESSOR;
}
