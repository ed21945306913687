// The first ping, through the wire with the official client: Socket.IO sends it pingInterval after
// the handshake; roomgate's heartbeat wheel (src/engine/heartbeat.ts) sends it at most
// FIRST_PING_JITTER of the interval earlier, never before. Only a lower bound is asserted: it holds
// on a loaded machine (a late ping is Socket.IO's behaviour under load too). The clock starts before
// the client asks for its session, so network and scheduling delays only lengthen what is measured.
import { test } from "node:test";
import assert from "node:assert/strict";
import { io as ioClient, type Socket as ClientSocket } from "socket.io-client";
import { FIRST_PING_JITTER } from "../../src/engine/heartbeat.ts";
import { startServer } from "../helpers/server.ts";

const PING_INTERVAL = 400;
// Ten buckets of 40 ms here: a first ping no earlier than one bucket (10 %) before the interval.
const EARLIEST = PING_INTERVAL * (1 - FIRST_PING_JITTER);

for (const transports of [["websocket"], ["polling"]]) {
  test(`the first ping comes no earlier than pingInterval less ${FIRST_PING_JITTER * 100} % (${transports[0]})`, async () => {
    // pingTimeout long: the clients answer every ping; nothing here may time out.
    const h = await startServer({ pingInterval: PING_INTERVAL, pingTimeout: 5000, logger: "silent" });
    const clients: ClientSocket[] = [];
    try {
      // 20 clients: with a first ping anywhere in the interval (the old wheel), 20 all past 90 % of it
      // would be a 1e-20 chance.
      const firstPings = await Promise.all(
        Array.from({ length: 20 }, () => {
          const start = performance.now();
          const c = ioClient(h.url, { transports, forceNew: true, reconnection: false });
          clients.push(c);
          return new Promise<number>((resolve, reject) => {
            c.io.once("ping", () => resolve(performance.now() - start));
            c.once("connect_error", reject);
          });
        }),
      );
      for (const ms of firstPings) assert.ok(ms >= EARLIEST, `a first ping ${ms.toFixed(1)} ms after the handshake began (pingInterval ${PING_INTERVAL})`);
    } finally {
      for (const c of clients) c.disconnect();
      await h.close();
    }
  });
}
