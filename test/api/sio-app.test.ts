// The Socket.IO 4.8-style application in test/fixtures/sio-app.ts, run as a process and driven
// with the official client: send, socket.use, numeric rooms, broadcast acks, a dynamic namespace,
// close(cb) on SIGTERM.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startProcess } from "../helpers/process.ts";
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { once } from "../helpers/server.ts";

test("a Socket.IO 4.8 application runs unchanged but for its import and listen lines", async () => {
  const app = await startProcess(process.execPath, ["--import", "tsx", "test/fixtures/sio-app.ts"], {
    env: { PORT: "0" },
    ready: /listening on (\d+)/,
    what: "the app",
  });
  const port = Number((app.ready as RegExpExecArray)[1]);
  const clients: ClientSocket[] = [];
  try {
    const client = (name: string, nsp = "/") => {
      const c = connect(`http://127.0.0.1:${port}${nsp}`, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { name } });
      clients.push(c);
      return c;
    };
    const arrive = async (name: string, nsp = "/") => {
      const c = client(name, nsp);
      const [welcome] = await once<[string]>(c, "message", 5000);
      return { c, welcome };
    };

    const [err] = await once<[Error]>(client(""), "connect_error", 5000);
    assert.equal(err.message, "name required");

    const ann = await arrive("ann");
    assert.equal(ann.welcome, "welcome ann");
    const bob = await arrive("bob");
    assert.equal(await ann.c.emitWithAck("join", 7), 1);
    const joined = once(ann.c, "joined", 5000);
    assert.equal(await bob.c.emitWithAck("join", 7), 2);
    assert.deepEqual(await joined, [7, bob.c.id]);

    const bets = once(ann.c, "bet", 5000);
    bob.c.emit("bet", 5);
    assert.deepEqual(await bets, [bob.c.id, 5]);
    const refused = once(bob.c, "message", 5000);
    bob.c.emit("bet", -1);
    assert.deepEqual(await refused, ["error: invalid bet"]);

    ann.c.on("vote", (q: string, cb: (a: string) => void) => cb(`ann says yes to ${q}`));
    assert.deepEqual(await bob.c.emitWithAck("poll", "fold?"), ["ann says yes to fold?"]);

    const lobby = await arrive("cy", "/lobby-3");
    assert.equal(lobby.welcome, "lobby /lobby-3");

    assert.equal(await app.stop("SIGTERM"), 0);
    assert.match(app.output(), /closed/);
  } finally {
    for (const c of clients) c.disconnect();
    await app.stop("SIGKILL");
  }
});
