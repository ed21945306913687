// The NATS client options that a cluster or an emitter passes through to the client's connect()
// (nats.js's ConnectionOptions). Declared here, without the client's own types, so that roomgate's
// published declarations never load nats's: those do not compile under `exactOptionalPropertyTypes`
// with `skipLibCheck: false` (tsc --init's defaults), and nats is only loaded when a cluster is used.
// Knows nothing of the client itself; link.ts hands these to it.

/** TLS settings (nats.js's TlsOptions): file paths or PEM strings. */
export interface NatsTlsOptions {
  handshakeFirst?: boolean;
  certFile?: string;
  cert?: string;
  caFile?: string;
  ca?: string;
  keyFile?: string;
  key?: string;
}

/** nats.js ConnectionOptions (v2.29), all optional; `servers` and `name` come from roomgate's own options. */
export interface NatsOptions {
  /** e.g. `usernamePasswordAuthenticator(...)`, `credsAuthenticator(...)` from "nats". */
  authenticator?: ((nonce?: string) => unknown) | Array<(nonce?: string) => unknown>;
  debug?: boolean;
  maxPingOut?: number;
  maxReconnectAttempts?: number;
  noEcho?: boolean;
  noRandomize?: boolean;
  pass?: string;
  pedantic?: boolean;
  pingInterval?: number;
  port?: number;
  reconnect?: boolean;
  reconnectDelayHandler?: () => number;
  reconnectJitter?: number;
  reconnectJitterTLS?: number;
  reconnectTimeWait?: number;
  timeout?: number;
  tls?: NatsTlsOptions | null;
  token?: string;
  user?: string;
  verbose?: boolean;
  waitOnFirstConnect?: boolean;
  ignoreClusterUpdates?: boolean;
  inboxPrefix?: string;
  ignoreAuthErrorAbort?: boolean;
  noAsyncTraces?: boolean;
  resolve?: boolean;
}
