// The IPC side of every benchmark server. A server module builds an `Impl` (how to listen,
// how to emit to each target, how to churn memberships) and calls `serve(impl)`; the runner
// then drives it over the IPC channel. Every reply carries the request's id.
import { makePayload, nowUs, targetFor, type Selector, type TargetId } from "../../lib/plan.ts";

export interface Impl {
  /** Start listening on 127.0.0.1, resolve to the bound port. */
  listen(): Promise<number>;
  /** Sockets connected and joined to their rooms. */
  joined(): number;
  /** Emit one message (the payload string) to a target. `i` = index within the burst. */
  emit(target: TargetId, payload: string, i: number): void;
  /** Called after the last emit of a burst (synchronously). */
  endBurst?(): void;
  /** Perform `ops` join/leave operations that leave every membership as it was. Returns ops done. */
  churn(ops: number, seed: number): number;
  close(): Promise<void>;
}

export type ServerCmd =
  | { id: number; cmd: "mem" }
  | { id: number; cmd: "joined" }
  | { id: number; cmd: "cpu" }
  | { id: number; cmd: "burst"; sel: Selector; seqStart: number; m: number; size: number; tag: string }
  | {
      id: number;
      cmd: "steady";
      sel: Selector;
      seqStart: number;
      m: number;
      bursts: number;
      intervalMs: number;
      size: number;
      tag: string;
    }
  | { id: number; cmd: "churn"; ops: number; seed: number }
  | { id: number; cmd: "close" };

function cpuUs(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

export async function serve(impl: Impl): Promise<void> {
  const send = (msg: object): void => {
    process.send?.(msg);
  };
  if (!process.send) {
    console.error("bench server: must be started by bench/e2e/run.ts with an IPC channel");
    process.exit(2);
  }
  process.on("disconnect", () => process.exit(0)); // the runner went away: never linger

  const emitBurst = (sel: Selector, seqStart: number, m: number, size: number, tag: string): void => {
    for (let i = 0; i < m; i++) {
      const seq = seqStart + i;
      impl.emit(targetFor(sel, seq), makePayload(seq, tag, nowUs(), size), i);
    }
    impl.endBurst?.();
  };

  process.on("message", (raw: unknown) => {
    const msg = raw as ServerCmd;
    try {
      switch (msg.cmd) {
        case "mem": {
          // settle: full GCs around a short pause, so start-up garbage is gone from the baseline
          gc();
          setTimeout(() => {
            gc();
            const u = process.memoryUsage();
            send({ id: msg.id, type: "mem", rss: u.rss, heapUsed: u.heapUsed, external: u.external });
          }, 100);
          break;
        }
        case "joined":
          send({ id: msg.id, type: "joined", n: impl.joined() });
          break;
        case "cpu":
          send({ id: msg.id, type: "cpu", us: cpuUs() });
          break;
        case "burst":
          emitBurst(msg.sel, msg.seqStart, msg.m, msg.size, msg.tag);
          send({ id: msg.id, type: "sent" });
          break;
        case "steady": {
          const start = performance.now();
          let b = 0;
          const tick = (): void => {
            emitBurst(msg.sel, msg.seqStart + b * msg.m, msg.m, msg.size, msg.tag);
            b++;
            if (b >= msg.bursts) {
              send({ id: msg.id, type: "sent" });
              return;
            }
            const due = start + b * msg.intervalMs;
            setTimeout(tick, Math.max(0, due - performance.now()));
          };
          tick();
          break;
        }
        case "churn": {
          const c0 = cpuUs();
          const t0 = performance.now();
          const ops = impl.churn(msg.ops, msg.seed);
          const wallUs = (performance.now() - t0) * 1000;
          send({ id: msg.id, type: "churned", ops, cpuUs: cpuUs() - c0, wallUs });
          break;
        }
        case "close":
          impl.close().then(
            () => {
              send({ id: msg.id, type: "closed" });
              setTimeout(() => process.exit(0), 20);
            },
            (err: unknown) => {
              send({ id: msg.id, type: "error", error: String(err) });
              setTimeout(() => process.exit(1), 20);
            },
          );
          break;
      }
    } catch (err) {
      send({ id: msg.id, type: "error", error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });

  const port = await impl.listen();
  send({ id: 0, type: "hello", port, pid: process.pid });
}

/** Churn plan shared by all servers: for op pair k, socket cid leaves one of its rooms and
 * joins it back, and joins then leaves a temporary room (rooms get created and destroyed). */
export function churnPlan(
  n: number,
  ops: number,
  seed: number,
  step: (cid: number, room: string, tmp: string) => void,
  roomsOf: (cid: number) => string[] | undefined,
): number {
  let done = 0;
  let x = seed >>> 0 || 1;
  for (let k = 0; done < ops && n > 0 && k < ops * 8 + 64; k++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const cid = x % n;
    const rooms = roomsOf(cid);
    if (!rooms || rooms.length === 0) continue;
    step(cid, rooms[k % rooms.length]!, "t" + (k % 16));
    done += 4; // leave + join + join tmp + leave tmp
  }
  return done;
}
