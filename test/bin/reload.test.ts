// Deploys without a gap: `pm2 reload gateway` of the real ecosystem (ecosystem.config.js, 2 workers,
// connection-state recovery on) under the reload monitor (bench/deploy/reload-monitor.ts: a default, a
// polling-only and a WebSocket client, an acked event each and a room broadcast every 50 ms, a
// fresh /healthz connection every 20 ms), on the embedded relay and on a real nats-server. Two
// reloads each; after each, the monitor waits until every client is connected and receives again
// (a barrier, not a sleep). Nothing may be refused, no ack may fail, no drain may drop a session, and
// pm2 must start each new worker before it stops the old one (the workers' own log lines say when
// each listened and when each began to drain). No lost session or broadcast: a todo (see there).
// `npm run bench:reload` does the same 20 times in a row and reports the counts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ecosystem, type Ecosystem } from "../../bench/deploy/ecosystem.ts";
import { type MonitorReport, ReloadMonitor } from "../../bench/deploy/reload-monitor.ts";
import { natsServerAvailable } from "../helpers/cluster.ts";

const APP = fileURLToPath(new URL("../../bench/deploy/monitor-app.mjs", import.meta.url));
const RELOADS = 2;

before(
  () => {
    // The ecosystem runs dist/ (as pm2 does): built only if a source changed.
    const build = spawnSync("npm", ["run", "-s", "build:fresh"], { encoding: "utf8", timeout: 180_000 });
    assert.equal(build.status, 0, build.stdout + build.stderr);
  },
  { timeout: 200_000 },
);

interface LogLine {
  msg?: string;
  pid?: number;
  worker?: string;
  time?: number;
  drainMs?: number;
}

for (const natsServer of [false, true]) {
  const skip = natsServer && !natsServerAvailable() ? "nats-server is not installed" : false;
  describe(natsServer ? "pm2 reload on a real nats-server" : "pm2 reload on the embedded relay", { skip, timeout: 180_000 }, () => {
    let pm2Home = "";
    let eco: Ecosystem;
    let monitor: ReloadMonitor | null = null;
    before(async () => {
      pm2Home = mkdtempSync(join(tmpdir(), "roomgate-deploy-test-"));
      eco = await ecosystem({ pm2Home, workers: 2, recovery: true, tokenSecret: "deploy-test", app: APP, natsServer, logLevel: "info" });
      await eco.start();
    });
    after(() => {
      monitor?.close();
      eco?.kill();
      if (pm2Home) rmSync(pm2Home, { recursive: true, force: true });
    });

    let report: MonitorReport | null = null;
    let moved = 0;
    test(`${RELOADS} monitored reloads of 2 workers, each new worker first: nothing refused, no ack failed, no session dropped by a drain`, async (t) => {
      monitor = await ReloadMonitor.start({ port: eco.port, kinds: ["default", "polling", "websocket"], everyMs: 50, retries: 3 });
      const replaced: number[] = [];
      for (let i = 0; i < RELOADS; i++) {
        const before = await eco.gatewayPids();
        await eco.pm2Async("reload", "gateway");
        const now = await eco.gatewayPids();
        assert.deepEqual(
          now.filter((p) => before.includes(p)),
          [],
          `reload ${i + 1} replaced every worker`,
        );
        replaced.push(...before);
        await monitor.settled(`reload ${i + 1}`);
      }
      report = await monitor.finish();
      const details = monitor.details();
      const log = eco.gatewayLog() as LogLine[];
      const msgs = (re: RegExp) => log.filter((l) => typeof l.msg === "string" && re.test(l.msg));

      // A fresh connection the kernel queued on a closing listener of the shared port is reset
      // (ECONNRESET) unless net.ipv4.tcp_migrate_req=1 hands it to another listener (README,
      // "Zero-downtime reload"): on such a machine only resets are tolerated, and counted; never a
      // refusal (no worker listening) or any other failure.
      const migrates = readSysctl("/proc/sys/net/ipv4/tcp_migrate_req") === "1";
      const resets = report.probeFailures.filter((f) => f.endsWith(" ECONNRESET")).length;
      t.diagnostic(
        `${report.probes} probes, ${resets} reset (tcp_migrate_req ${migrates ? 1 : 0}); ${report.reconnects} reconnects, ${report.sessionsLost} without their session; ${report.broadcastsLost} broadcasts lost; ${report.eventsCutInFlight} acked events sent again`,
      );
      assert.deepEqual(
        {
          probesFailed: migrates ? report.probesFailed : report.probesFailed - resets,
          connectErrors: report.connectErrors,
          acksFailed: report.acksFailed,
        },
        { probesFailed: 0, connectErrors: 0, acksFailed: 0 },
        `${JSON.stringify(report)}\n${details.join("\n")}`,
      );
      assert.ok(report.reconnects >= 1, "the reloads moved clients");

      // Start-then-stop: each replaced worker began to drain only after its successor listened.
      const listening = msgs(/^listening on /);
      for (const pid of replaced) {
        const drain = msgs(/^draining: /).find((l) => l.pid === pid);
        assert.ok(drain, `worker ${pid} drained (on SIGINT)`);
        const successor = listening.find(
          (l) => l.worker === drain.worker && l.pid !== pid && !replaced.slice(0, replaced.indexOf(pid)).includes(l.pid!) && l.pid! > 0,
        );
        assert.ok(successor && successor.time! <= drain.time!, `worker ${drain.worker}'s successor listened before ${pid} drained`);
      }
      // Each drain said what it did: every session it parked was handed over, none dropped.
      const done = msgs(/^cluster: drain done in \d+ ms/);
      const handed = done.map((l) => Number(/: (\d+) session\(s\) handed over/.exec(l.msg!)![1]));
      // (A relay outage's own "dropped during the outage" line is about broadcasts, not sessions: issue #22's gap fill.)
      assert.deepEqual(msgs(/^cluster: drain.*dropped/), [], "no session dropped");
      // Drains hand their sessions over; that each one handed over reaches its client is in the todo.
      moved = handed.reduce((a, b) => a + b, 0);
      assert.ok(moved >= 1, `sessions handed over: ${done.map((l) => l.msg).join("; ")}`);
    });

    // Not yet: in about 1 reload of 10, a client reconnecting during a drain comes back without its
    // session, and misses the broadcasts of its gap (issue #22; the drains themselves hand over
    // every session parked at close). Run and reported, not failing the suite.
    test("... and every reconnect comes back with its session, no broadcast lost", { todo: "a reconnect sometimes gets a new session (issue #22)" }, () => {
      assert.ok(report, "the reloads ran");
      assert.deepEqual({ sessionsLost: report.sessionsLost, broadcastsLost: report.broadcastsLost }, { sessionsLost: 0, broadcastsLost: 0 });
      // Seen once: 9 sessions handed over by the drains, 8 recovered by their clients (the taker got
      // the session, its client came back with a new one).
      assert.ok(moved <= report.reconnectsRecovered, `${moved} handed over, ${report.reconnectsRecovered} recovered`);
    });
  });
}

function readSysctl(file: string): string | null {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return null;
  }
}
