// Test helpers: a real roomgate server on an ephemeral loopback port and real socket.io-client
// clients over the WebSocket transport.
import { io as connectClient, type Socket as ClientSocket, type ManagerOptions, type SocketOptions } from "socket.io-client";
import { Server, type ServerOptions } from "../../src/index.ts";
import { sleep } from "./wait.ts";

export type { ClientSocket };

export interface Harness {
  io: Server;
  port: number;
  url: string;
  client(nsp?: string, opts?: Partial<ManagerOptions & SocketOptions>): ClientSocket;
  /** A client that has connected (rejects on connect_error). */
  connected(nsp?: string, opts?: Partial<ManagerOptions & SocketOptions>): Promise<ClientSocket>;
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions = {}): Promise<Harness> {
  const io = new Server(opts);
  const port = await io.listen(0, "127.0.0.1");
  const url = `http://127.0.0.1:${port}`;
  const clients: ClientSocket[] = [];
  const client = (nsp = "/", o: Partial<ManagerOptions & SocketOptions> = {}) => {
    const c = connectClient(url + nsp, { transports: ["websocket"], forceNew: true, reconnection: false, ...o });
    clients.push(c);
    return c;
  };
  return {
    io,
    port,
    url,
    client,
    connected(nsp, o) {
      const c = client(nsp, o);
      return new Promise((resolve, reject) => {
        c.once("connect", () => resolve(c));
        c.once("connect_error", reject);
      });
    },
    async close() {
      for (const c of clients) c.disconnect();
      await io.close();
    },
  };
}

/** Runs `fn` against a fresh server, closed afterwards whatever happens. */
export async function withServer(opts: ServerOptions, fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startServer(opts);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

/** Resolves with the arguments of the next `ev` on `emitter`; rejects after `ms`. */
export function once<T extends unknown[] = unknown[]>(
  emitter: { once(ev: string, fn: (...a: any[]) => void): unknown; off?(ev: string, fn: (...a: any[]) => void): unknown },
  ev: string,
  ms = 3000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    };
    const timer = setTimeout(() => {
      emitter.off?.(ev, fn);
      reject(new Error(`timed out waiting for "${ev}"`));
    }, ms);
    emitter.once(ev, fn);
  });
}

/** Records every event a client receives, in order. */
export function record(client: ClientSocket): Array<[string, ...unknown[]]> {
  const log: Array<[string, ...unknown[]]> = [];
  client.onAny((ev: string, ...args: unknown[]) => log.push([ev, ...args]));
  return log;
}

/** A round trip through the server: everything the server sent this client before is delivered. */
export async function settle(...clients: ClientSocket[]): Promise<void> {
  await sleep(20);
  await Promise.all(
    clients
      .filter((c) => c.connected)
      .map((c) =>
        c
          .timeout(3000)
          .emitWithAck("__ping")
          .catch(() => undefined),
      ),
  );
}
