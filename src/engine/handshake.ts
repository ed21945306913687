// A socket's handshake as Socket.IO shows it (`socket.handshake`), read from the session's upgrade
// request. Knows nothing of namespaces or sockets.
import { inspect, type InspectOptions } from "node:util";
import type { UpgradeRequest } from "./http/request.ts";

export interface Handshake {
  headers: Record<string, string>;
  query: Record<string, string>;
  auth: Record<string, unknown>;
  address: string;
  time: string;
  issued: number;
  url: string;
  secure: boolean;
  xdomain: boolean;
}

/** A socket's handshake. It reads the connection's upgrade request instead of copying it, and
 *  makes `auth` (when the client sent none) and `time` (a date string, slow to make) only when
 *  read: memory per connection is a target. */
export class SocketHandshake implements Handshake {
  constructor(
    private readonly request: UpgradeRequest,
    private authData: Record<string, unknown> | null,
    readonly issued: number,
  ) {}

  get headers(): Record<string, string> {
    return this.request.headers;
  }

  get query(): Record<string, string> {
    return this.request.query;
  }

  get address(): string {
    return this.request.remoteAddress;
  }

  get url(): string {
    return this.request.url;
  }

  /** Whether the client connected over TLS: to a TLS server, or to a trusted proxy that says so. */
  get secure(): boolean {
    return this.request.secure;
  }

  get xdomain(): boolean {
    return this.request.headers.origin !== undefined;
  }

  get auth(): Record<string, unknown> {
    return (this.authData ??= {});
  }

  set auth(value: Record<string, unknown>) {
    this.authData = value;
  }

  get time(): string {
    return new Date(this.issued).toString();
  }

  toJSON(): Handshake {
    const { headers, query, auth, address, time, issued, url, secure, xdomain } = this;
    return { headers, query, auth, address, time, issued, url, secure, xdomain };
  }

  /** console.log shows what Socket.IO's plain handshake object would show. */
  [inspect.custom](_depth: number, options: InspectOptions): string {
    return inspect(this.toJSON(), options);
  }
}
