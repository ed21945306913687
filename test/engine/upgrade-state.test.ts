// The upgrade's state machine (src/engine/upgrade/): its transition table as a table of every
// state and event, the paths the Engine.IO client drives through it, the session's upgrade holding
// and releasing a real polling transport's polls as its state says, and one path on the wire.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  nextUpgradeState,
  PollingTransport,
  RecordedExchange,
  releasesPolls,
  SessionUpgrade,
  UPGRADE_TRANSITIONS,
  type UpgradeEvent,
  type UpgradeState,
} from "../../src/internal.ts";
import uWS from "../../src/engine/uws.ts";
import type { Socket } from "../../src/index.ts";
import { RawPolling } from "../helpers/polling.ts";
import { RawWebSocket } from "../helpers/raw-ws.ts";
import { once, startServer } from "../helpers/server.ts";

const STATES = Object.keys(UPGRADE_TRANSITIONS) as UpgradeState[];
const EVENTS: UpgradeEvent[] = ["accept", "open", "2probe", "5", "prepare move", "hand off", "cancel move", "adopted", "abandon", "close", "fail"];

/** Every transition there is, one per line (`from --event--> to`); any other pair is ignored. */
const TABLE = `
none        --accept-->       reserved
none        --prepare move--> moving out
reserved    --open-->         probing
reserved    --abandon-->      none
probing     --2probe-->       released
probing     --5-->            upgraded
probing     --abandon-->      none
probing     --close-->        none
released    --2probe-->       released
released    --5-->            upgraded
released    --abandon-->      none
released    --close-->        none
moving out  --hand off-->     moved out
moving out  --cancel move-->  none
moving out  --abandon-->      none
moving in   --2probe-->       move ready
moving in   --abandon-->      none
moving in   --close-->        none
move ready  --5-->            taking
move ready  --abandon-->      none
move ready  --close-->        none
taking      --adopted-->      moved in
taking      --fail-->         none
taking      --close-->        none
`;

function parseTable(): Map<string, UpgradeState> {
  const rows = new Map<string, UpgradeState>();
  for (const line of TABLE.trim().split("\n")) {
    const m = /^(.+?)\s+--(.+?)-->\s+(.+)$/.exec(line.trim());
    assert.ok(m, `unreadable row ${line}`);
    rows.set(`${m[1]}|${m[2]}`, m[3] as UpgradeState);
  }
  return rows;
}

test("upgrade state: every state and event leads where the table says, and nowhere else", () => {
  const rows = parseTable();
  assert.equal(rows.size, 24);
  assert.equal(STATES.length, 11);
  for (const state of STATES) {
    for (const event of EVENTS) assert.equal(nextUpgradeState(state, event), rows.get(`${state}|${event}`) ?? null, `${state} --${event}-->`);
  }
  // No event of the table is missing from the list walked above.
  for (const state of STATES) for (const event of Object.keys(UPGRADE_TRANSITIONS[state])) assert.ok(EVENTS.includes(event as UpgradeEvent), event);
});

test("upgrade state: upgraded, moved out and moved in are final; every state is reached from none or moving in", () => {
  for (const final of ["upgraded", "moved out", "moved in"] as const) assert.deepEqual(UPGRADE_TRANSITIONS[final], {});
  const seen = new Set<UpgradeState>(["none", "moving in"]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const state of [...seen])
      for (const next of Object.values(UPGRADE_TRANSITIONS[state]))
        if (!seen.has(next)) {
          seen.add(next);
          grew = true;
        }
  }
  assert.deepEqual([...seen].sort(), [...STATES].sort());
});

test("upgrade state: polls are released only while the client pauses polling (released, moving out)", () => {
  assert.deepEqual(
    STATES.filter((s) => releasesPolls(s)),
    ["released", "moving out"],
  );
});

test("upgrade state: the paths the client drives", () => {
  const walk = (from: UpgradeState, ...events: UpgradeEvent[]) =>
    events.reduce<UpgradeState | null>((s, e) => (s === null ? null : nextUpgradeState(s, e)), from);
  assert.equal(walk("none", "accept", "open", "2probe", "5"), "upgraded");
  // socket.io-client's probe, abandoned (upgradeTimeout), then tried again on a new WebSocket.
  assert.equal(walk("none", "accept", "open", "2probe", "abandon", "accept", "open", "2probe", "5"), "upgraded");
  assert.equal(walk("none", "prepare move", "hand off"), "moved out");
  assert.equal(walk("none", "prepare move", "cancel move", "accept"), "reserved");
  assert.equal(walk("moving in", "2probe", "5", "adopted"), "moved in");
  // Once `5` has come, neither a timeout nor a stray frame stops the move; only its failure does.
  assert.equal(walk("moving in", "2probe", "5", "abandon"), null);
  assert.equal(walk("moving in", "2probe", "5", "fail"), "none");
  // A probe here does not let a move start, nor does a move let a probe in.
  assert.equal(walk("none", "accept", "prepare move"), null);
  assert.equal(walk("none", "prepare move", "accept"), null);
});

/** The app the polling transports publish through (never listening). */
const app = uWS.App();

/** A polling transport and its session's upgrade. */
function pollingSession(): { polling: PollingTransport; upgrade: SessionUpgrade } {
  const polling = new PollingTransport(app, { closeTimeout: 30_000, maxBuffered: 1e6, compression: null });
  return { polling, upgrade: new SessionUpgrade(polling) };
}

/** A long-poll GET on `polling` (answered in the response recorded, as a forwarded one is). */
function poll(polling: PollingTransport): { answered: () => boolean; body: Promise<string> } {
  const ex = new RecordedExchange();
  let done = false;
  const body = ex.response.then((r) => {
    done = true;
    return Buffer.from(r.body).toString();
  });
  polling.onPoll(ex, []);
  return { answered: () => done, body };
}

const text = (s: string) => ({ data: Buffer.from(s), binary: false });

test("session upgrade: a poll is held while probing, answered with a noop once `2probe` came, held again when the probe is abandoned", async () => {
  const { polling, upgrade } = pollingSession();
  let closed = 0;
  assert.equal(upgrade.accept(), true);
  assert.equal(upgrade.can("accept"), false, "a second probe waits for the first");
  assert.equal(
    upgrade.open(60_000, () => closed++),
    true,
  );
  const first = poll(polling);
  await Promise.resolve();
  assert.equal(first.answered(), false);
  upgrade.probed();
  assert.equal(upgrade.state, "released");
  assert.equal(await first.body, "6");
  // Released: the next poll is answered at once, too.
  assert.equal(await poll(polling).body, "6");
  upgrade.abandon();
  assert.equal(upgrade.state, "none");
  assert.equal(closed, 1, "the probe's WebSocket is closed");
  const held = poll(polling);
  await Promise.resolve();
  assert.equal(held.answered(), false);
  polling.sendNow([text("4hi")]);
  assert.equal(await held.body, "4hi");
});

test("session upgrade: the switch hands over what polling had not delivered and releases a waiting poll", async () => {
  const { polling, upgrade } = pollingSession();
  polling.subscribe("t");
  upgrade.accept();
  upgrade.open(60_000, () => assert.fail("not abandoned"));
  const waiting = poll(polling);
  polling.sendNow([text("4a")]);
  assert.equal(await waiting.body, "4a");
  const next = poll(polling);
  polling.sendNow([text("4b")]);
  assert.equal(await next.body, "4b");
  const last = poll(polling);
  // Queued while a poll waits, before the tick's flush: it goes to the WebSocket, the poll gets a noop.
  polling.enqueue(text("4c"));
  const handed = upgrade.switchOver();
  assert.equal(upgrade.state, "upgraded");
  assert.deepEqual(
    handed?.frames.map((f) => f.data.toString()),
    ["4c"],
  );
  assert.deepEqual([...(handed?.topics ?? [])], ["t"]);
  assert.equal(await last.body, "6");
  assert.equal(polling.closed, true);
});

test("session upgrade: upgradeTimeout abandons the probe; a closed session is not probed nor moved", async () => {
  const { polling, upgrade } = pollingSession();
  upgrade.accept();
  await new Promise<void>((resolve) => upgrade.open(1, resolve));
  assert.equal(upgrade.state, "none");
  assert.equal(upgrade.prepareMove(60_000), true);
  upgrade.cancelMove();
  assert.equal(upgrade.state, "none");
  polling.close();
  assert.equal(upgrade.accept(), false);
  assert.equal(upgrade.prepareMove(60_000), false);
  assert.equal(upgrade.state, "none");
});

test("session upgrade: a move out hands the buffer over once, and a local probe cannot take it", async () => {
  const { polling, upgrade } = pollingSession();
  polling.enqueue(text("4x"));
  assert.equal(upgrade.accept(), true);
  assert.equal(upgrade.handOff(), null, "no move was prepared");
  upgrade.abandon();
  assert.equal(upgrade.prepareMove(60_000), true);
  assert.equal(await poll(polling).body, "4x");
  assert.equal(await poll(polling).body, "6", "released while moving out");
  // Queued between polls (as a broadcast leaves it, until the tick's flush): it goes along.
  polling.enqueue(text("4y"));
  assert.deepEqual(
    upgrade.handOff()?.map((f) => f.data.toString()),
    ["4y"],
  );
  assert.equal(upgrade.state, "moved out");
  assert.equal(upgrade.handOff(), null);
});

test("on the wire: a probe abandoned by a stray frame frees the session for the next probe, which upgrades it", async () => {
  const h = await startServer();
  try {
    const seen = once<[Socket]>(h.io, "connection");
    const p = await RawPolling.open(h.port);
    await p.connect();
    const [socket] = await seen;
    const probe = `/socket.io/?EIO=4&transport=websocket&sid=${p.sid}`;
    const first = await RawWebSocket.open(h.port, probe);
    first.sendText('42["stray"]');
    await first.waitClosed();
    const second = await RawWebSocket.open(h.port, probe);
    const waiting = p.poll();
    second.sendText("2probe");
    await second.waitText((t) => t === "3probe");
    assert.deepEqual(await waiting, ["6"]);
    second.sendText("5");
    // Buffered by polling if the switch has not happened yet, handed to the WebSocket at the switch:
    // on the WebSocket either way.
    socket.emit("m", 1);
    await second.waitText((t) => t === '42["m",1]');
    assert.equal(socket.conn.transport.name, "websocket");
    second.destroy();
  } finally {
    await h.close();
  }
});
