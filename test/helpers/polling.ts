// A raw Engine.IO polling client over node:http, for tests that check the wire: the handshake,
// payloads, polls held by the server, errors. Every request is bounded by a timeout.
import { request } from "node:http";

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function http(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, ms = 5000): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        headers: body !== undefined ? { "Content-Type": "text/plain;charset=UTF-8", ...headers } : headers,
        agent: false,
      },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (data += d));
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode!, headers: res.headers, body: data });
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`${method} ${path}: no answer within ${ms} ms`));
    }, ms);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

export const POLLING = "/socket.io/?EIO=4&transport=polling";

/** A polling session made by hand: the handshake done, requests by sid. */
export class RawPolling {
  private constructor(
    readonly port: number,
    readonly sid: string,
    readonly open: Record<string, unknown>,
  ) {}

  static async open(port: number, headers: Record<string, string> = {}): Promise<RawPolling> {
    const reply = await http(port, "GET", POLLING, undefined, headers);
    if (reply.status !== 200 || !reply.body.startsWith("0{")) throw new Error(`handshake failed: ${reply.status} ${reply.body}`);
    const open = JSON.parse(reply.body.slice(1));
    return new RawPolling(port, open.sid, open);
  }

  /** A session opened elsewhere, reached through `port` (in a cluster, any worker's). */
  static at(port: number, sid: string): RawPolling {
    return new RawPolling(port, sid, {});
  }

  get path(): string {
    return `${POLLING}&sid=${this.sid}`;
  }

  /** One long-poll: resolves with the payload's packets. Pings are left out, and a poll that carried
   *  only pings is made again: the heartbeat's first ping comes at a random point of its interval, so
   *  any test may meet one (CI did). `{ pings: true }` keeps them, one poll. */
  async poll(opts: { pings?: boolean } = {}): Promise<string[]> {
    for (;;) {
      const reply = await http(this.port, "GET", this.path);
      if (reply.status !== 200) throw new Error(`poll: ${reply.status} ${reply.body}`);
      const packets = reply.body.split("\x1e");
      if (opts.pings) return packets;
      const rest = packets.filter((packet) => packet !== "2");
      if (rest.length > 0) return rest;
    }
  }

  post(payload: string | string[]): Promise<HttpReply> {
    return http(this.port, "POST", this.path, Array.isArray(payload) ? payload.join("\x1e") : payload);
  }

  /** Connects the main namespace; resolves with the socket id. */
  async connect(): Promise<string> {
    const ok = await this.post("40");
    if (ok.body !== "ok") throw new Error(`connect post: ${ok.status} ${ok.body}`);
    for (let i = 0; i < 5; i++) {
      const connect = (await this.poll()).find((p) => p.startsWith("40"));
      if (connect) return JSON.parse(connect.slice(2)).sid;
    }
    throw new Error("no CONNECT answer");
  }
}
