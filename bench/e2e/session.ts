// The end-to-end benchmark's run: for every rep, each server in a fresh process (rotating order),
// ramped to N, measured scenario by scenario with the same load clients, then torn down; the
// polling scenario in a second fresh process of each Socket.IO-protocol server, with long-polling
// clients only (raw uWS has no polling). Records every rep's figures and every failure, and how
// much CPU other processes took meanwhile.
import { LoadClients } from "./clients.ts";
import { ERROR_KEYS, ERROR_NAMES, hasErrors, zeroErrors } from "./delivery-errors.ts";
import { ForeignCpuMonitor } from "../lib/interference.ts";
import { readServerCpuUs, type Failure, type RepResult } from "./metrics.ts";
import type { Opts } from "./options.ts";
import { children, cpusFor, envFlags, Peer } from "../lib/peer.ts";
import { assignRooms, isMember, SCENARIOS, type ClientMode, type Selector } from "../lib/plan.ts";
import { Scenarios } from "./scenarios.ts";
import { runtimeEnv, runtimeNode } from "../lib/runtimes.ts";
import { serverDef, serverScript, type ServerDef } from "./servers.ts";
import { sleep } from "../lib/wait.ts";

/** One session's share of CPU taken by processes outside the benchmark. */
export interface Interference {
  server: string;
  rep: number;
  /** CPU cores used on average by processes outside the benchmark. */
  foreignCores: number;
  seconds: number;
}

export class E2eBench {
  readonly clients: LoadClients;
  private readonly scenarios: Scenarios;
  results = new Map<string, Map<string, RepResult[]>>();
  failures: Failure[] = [];
  /** Recipients per message of each target (one-room, union4, except, socket-to). */
  expectedPerTarget: number[] = [];
  interference: Interference[] = [];
  monitor = new ForeignCpuMonitor(() => {
    const own = new Set<number>([process.pid, process.ppid]);
    for (const c of children) if (c.pid) own.add(c.pid);
    return own;
  });

  constructor(readonly o: Opts) {
    this.clients = new LoadClients(o);
    this.scenarios = new Scenarios(o, this.clients);
    const masks = assignRooms(o.n, o.seed);
    for (let t = 0; t < 4; t++) {
      let c = 0;
      for (let cid = 0; cid < o.n; cid++) if (isMember(t, masks[cid]!, cid)) c++;
      this.expectedPerTarget.push(c);
    }
  }

  record(server: string, scenario: string, r: RepResult): void {
    let s = this.results.get(server);
    if (!s) this.results.set(server, (s = new Map()));
    let l = s.get(scenario);
    if (!l) s.set(scenario, (l = []));
    l.push(r);
    const bad = ERROR_KEYS.filter((k) => r.errors[k] > 0);
    if (bad.length || r.incomplete) {
      const what = bad.map((k) => `${ERROR_NAMES[k]}=${r.errors[k]}`).join(" ");
      this.failures.push({
        server,
        scenario,
        rep: r.rep,
        message: `${what || "incomplete"}${r.incomplete ? " (burst incomplete)" : ""}${r.examples.length ? "; e.g. " + r.examples.slice(0, 6).join("; ") : ""}`,
      });
    }
  }

  /** One fresh server process for `body`, torn down after it; a failure is recorded under the
   *  scenario `body` last named in `at.scenario`. `mode` "polling": the server serves polling too. */
  private async withServer(
    def: ServerDef,
    rep: number,
    mode: ClientMode,
    body: (srv: Peer, port: number, at: { scenario: string }) => Promise<void>,
  ): Promise<void> {
    const { o } = this;
    const t0s = Date.now();
    process.stderr.write(`[rep ${rep + 1}/${o.reps}] ${def.name}${mode === "polling" ? " (polling)" : ""}: `);
    const env: NodeJS.ProcessEnv = { ...def.env, ...(def.name.split("@")[0] === "wrong" ? { BENCH_WRONG: o.wrongFaults } : {}) };
    if (o.dist) env.BENCH_ROOMGATE_DIST = "1";
    if (mode === "polling") env.BENCH_POLLING = "1";
    if (o.deflate) env.BENCH_DEFLATE = "1";
    const srv = new Peer(
      `server ${def.name}`,
      [serverScript(def, o.dist)],
      cpusFor("server", o.pin),
      ["--expose-gc", ...envFlags("BENCH_SERVER_NODE_FLAGS")],
      { ...env, ...runtimeEnv(def.runtime) },
      runtimeNode(def.runtime),
    );
    const foreign0 = this.monitor.seconds();
    const at = { scenario: "start" };
    try {
      const hello = await srv.waitFor("hello", 60000);
      await body(srv, hello.port as number, at);
      at.scenario = "close";
      const secs = (Date.now() - t0s) / 1000;
      const foreignCores = (this.monitor.seconds() - foreign0) / secs;
      this.interference.push({ server: def.name, rep, foreignCores, seconds: secs });
      if (foreignCores > 0.1) process.stderr.write(`(other processes used ${foreignCores.toFixed(2)} cores during this session) `);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.failures.push({ server: def.name, scenario: at.scenario, rep, message });
      // make sure the clients are not left mid-scenario
      try {
        await this.clients.collect(10000);
      } catch {
        /* reported below if the clients are gone */
      }
    } finally {
      try {
        await this.clients.disconnect();
      } catch (err) {
        this.failures.push({ server: def.name, scenario: "disconnect", rep, message: String(err) });
      }
      if (!srv.exited) {
        try {
          await srv.request({ cmd: "close" }, 5000);
        } catch {
          /* killed below */
        }
        if (!(await srv.waitExit(3000))) srv.kill();
        await srv.waitExit(3000);
      }
      const dead = this.clients.dead();
      // biome-ignore lint/correctness/noUnsafeFinally: a dead client process must fail the run even when the scenario threw
      if (dead) throw new Error(`${dead.name} ${dead.exited}: cannot continue`);
      process.stderr.write(`${((Date.now() - t0s) / 1000).toFixed(1)} s\n`);
    }
  }

  /** The polling scenario of one server (fresh process, long-polling clients only). */
  pollingSession(def: ServerDef, rep: number): Promise<void> {
    return this.withServer(def, rep, "polling", async (srv, port, at) => {
      at.scenario = "polling";
      this.record(def.name, "polling", await this.scenarios.pollingScenario(srv, port, rep));
    });
  }

  /** Every WebSocket scenario of one server, on one process ramped to N. */
  session(def: ServerDef, rep: number): Promise<void> {
    return this.withServer(def, rep, def.mode, (srv, port, at) => this.webSocketScenarios(def, rep, srv, port, at));
  }

  private async webSocketScenarios(def: ServerDef, rep: number, srv: Peer, port: number, at: { scenario: string }): Promise<void> {
    const { o } = this;
    const want = new Set(o.scenarios);
    if (o.settleMs > 0) await sleep(o.settleMs);
    const mem0 = await srv.request({ cmd: "mem" });
    const cpu0 = await readServerCpuUs(srv);

    // ramp + idle memory
    at.scenario = "ramp";
    const ramp = await this.scenarios.rampToN(srv, port, def.mode, cpu0);
    if (want.has("ramp")) this.record(def.name, "ramp", { rep, incomplete: false, errors: zeroErrors(), examples: [], metrics: ramp });
    await sleep(o.settleMs > 0 ? o.settleMs : o.quick ? 100 : 300);
    const mem1 = await srv.request({ cmd: "mem" });
    if (want.has("memory"))
      this.record(def.name, "memory", {
        rep,
        incomplete: false,
        errors: zeroErrors(),
        examples: [],
        metrics: {
          rssPerConn: ((mem1.rss as number) - (mem0.rss as number)) / o.n / 1024,
          heapPerConn: ((mem1.heapUsed as number) - (mem0.heapUsed as number)) / o.n / 1024,
          rssBase: (mem0.rss as number) / 1048576,
          rssConnected: (mem1.rss as number) / 1048576,
        },
      });

    if (want.has("reconnect")) {
      // The ramp again, measured the second time everybody reconnects: by then the connection and
      // teardown paths are JIT-compiled, so this is the steady cost of a connection to a running
      // gateway; the first ramp also pays the one-time compilation (a quarter of roomgate's
      // figure at N=2000, on V8's background threads).
      at.scenario = "reconnect";
      let again: Record<string, number> = {};
      for (let cycle = 0; cycle < 2; cycle++) {
        await this.clients.disconnect();
        await this.scenarios.untilJoined(srv, 0);
        await sleep(o.quick ? 100 : 300);
        const cpuR = await readServerCpuUs(srv);
        again = await this.scenarios.rampToN(srv, port, def.mode, cpuR);
      }
      this.record(def.name, "reconnect", { rep, incomplete: false, errors: zeroErrors(), examples: [], metrics: again });
    }

    // warm-up (verified, not recorded as a figure)
    at.scenario = "warm-up";
    for (const sel of ["mixed", "socket-to"] as Selector[]) {
      const w = await this.scenarios.burstScenario(srv, sel, 1, o.m, "W", rep);
      if (hasErrors(w.errors) || w.incomplete) this.record(def.name, `warm-up ${sel}`, w);
    }

    for (const sc of SCENARIOS) {
      if (!want.has(sc.name)) continue;
      at.scenario = sc.name;
      if (sc.kind === "burst") {
        this.record(def.name, sc.name, await this.scenarios.burstScenario(srv, sc.selector!, o.bursts, o.m, sc.name.slice(0, 2), rep, o.minMs));
      } else if (sc.kind === "latency") {
        this.record(def.name, sc.name, await this.scenarios.latencyScenario(srv, rep));
      } else if (sc.kind === "churn") {
        this.record(def.name, sc.name, await this.scenarios.churnScenario(srv, rep));
      }
    }
  }

  async run(): Promise<void> {
    const { o } = this;
    this.monitor.start();
    await this.clients.start();
    const defs = o.servers.map(serverDef);
    for (let rep = 0; rep < o.reps; rep++) {
      // rotate the order each rep so no server always runs first (or last)
      for (let i = 0; i < defs.length; i++) {
        const def = defs[(i + rep) % defs.length]!;
        if (o.scenarios.some((s) => s !== "polling")) await this.session(def, rep);
        if (o.scenarios.includes("polling") && def.mode === "sio") await this.pollingSession(def, rep);
      }
    }
    await this.clients.exit();
    this.monitor.stop();
  }
}
