// The pm2 ecosystem (ecosystem.config.js: the relay and gateway workers on one SO_REUSEPORT port)
// as the benchmarks that run it set it up: free loopback ports, the environment, and a pm2 runner
// on a daemon of its own (PM2_HOME). Knows nothing of what a benchmark measures.
import { execFileSync } from "node:child_process";
import { freePort } from "../lib/ports.ts";

export interface Ecosystem {
  /** The gateway workers' shared port, and the relay's. */
  port: number;
  relayPort: number;
  env: NodeJS.ProcessEnv;
  /** What the example app's tokens are signed with. */
  tokenSecret: string;
  /** Runs `npx pm2 <args>` on this ecosystem's daemon; returns its output. */
  pm2(...args: string[]): string;
  /** Kills the daemon and everything it runs (it may be gone already). */
  kill(): void;
}

export async function ecosystem(opts: {
  pm2Home: string;
  workers: number;
  /** Connection-state recovery on (ROOMGATE_RECOVERY, ms a session is kept). */
  recovery: boolean;
  /** The example app admits clients with a token signed with this secret (src/examples/tokens.ts). */
  tokenSecret: string;
}): Promise<Ecosystem> {
  const port = await freePort();
  const relayPort = await freePort();
  const env = {
    ...process.env,
    PM2_HOME: opts.pm2Home,
    GATEWAY_INSTANCES: String(opts.workers),
    PORT: String(port),
    HOST: "127.0.0.1",
    RELAY_PORT: String(relayPort),
    ROOMGATE_LOG_LEVEL: "warn",
    APP_TOKEN_SECRET: opts.tokenSecret,
    ...(opts.recovery ? { ROOMGATE_RECOVERY: "60000" } : {}),
  };
  const pm2 = (...args: string[]) => execFileSync("npx", ["pm2", ...args], { env, stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 }).toString();
  const kill = () => {
    try {
      pm2("kill");
    } catch {
      // the daemon may already be gone
    }
  };
  return { port, relayPort, env, pm2, kill, tokenSecret: opts.tokenSecret };
}
