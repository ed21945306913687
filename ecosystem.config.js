// pm2: the relay and N gateway workers. `npx pm2 start ecosystem.config.js`
//
// Every worker listens on the same PORT (ROOMGATE_REUSE_PORT: SO_REUSEPORT on purpose, the kernel
// spreads connections; a lone gateway listens exclusively) and joins the cluster through the
// relay. `npx pm2 reload gateway` replaces workers one by one: pm2 starts the new worker, waits for
// its "ready" (wait_ready: it listens and its relay link is up), then sends the old one SIGINT; the
// old one stops accepting, tells its clients to reconnect (they land on the others, the new one
// included), hands over their parked sessions, flushes and leaves the cluster. Start-then-stop is
// what pm2 does for exec_mode "cluster" only: in fork mode its reload is a restart (stop, then
// start). So the gateway runs in cluster mode, where the pm2 daemon (its node) forks each worker; uWS listens
// by itself (SO_REUSEPORT), not through node's cluster module, so nothing else changes.
// Other settings (ROOMGATE_*, ROOMGATE_CONFIG) pass through: README "Operations".
//
// Environment (read when pm2 loads this file):
//   GATEWAY_INSTANCES  number of workers (default: CPU count)
//   PORT, HOST         where the workers listen (default 3000, 0.0.0.0)
//   APP                application module the workers run (default: the example rooms app)
//   RELAY_PORT         relay port (default 4222); RELAY_HOST (default 127.0.0.1)
//   ROOMGATE_CLUSTER   NATS URL(s) instead of the local relay, e.g. a nats-server cluster
//                      (then the relay app is not needed: `pm2 start ecosystem.config.js --only gateway`)
//   APP_TOKEN_SECRET   the example app's token secret, for every worker. Unset, one demo secret is
//                      made per `pm2 start` and given to every worker (APP_DEMO_TOKEN_SECRET): the
//                      demo token a worker logs works on all of them (a secret per worker made a
//                      token work on one worker of n). pm2 keeps it across `pm2 reload gateway`.
//   RELAY_TOKEN        the token the relay requires and the workers present (ROOMGATE_CLUSTER_TOKEN).
//                      Unset: made once and kept in RELAY_TOKEN_FILE (default .relay-token here,
//                      mode 0600), so every load of this file (start, reload) agrees. With
//                      ROOMGATE_CLUSTER (your own NATS), pass ROOMGATE_CLUSTER_TOKEN yourself.
//
// An ES module (the package is "type": "module"); pm2 loads it with require(), which Node 20.19+
// accepts for ES modules: the named export `apps` is what pm2 reads.
//
// Each app is the compiled entry in dist/ run by plain node (interpreter "none": pm2 starts the
// script as given). `npm install` builds dist/ (the `prepare` script); after a source change, run
// `npm run build` before `pm2 reload`.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";

const env = process.env;
const instances = Number(env.GATEWAY_INSTANCES ?? os.availableParallelism?.() ?? os.cpus().length);
const relayHost = env.RELAY_HOST ?? "127.0.0.1";
const relayPort = env.RELAY_PORT ?? "4222";
const tokenSecret = env.APP_TOKEN_SECRET ? { APP_TOKEN_SECRET: env.APP_TOKEN_SECRET } : { APP_DEMO_TOKEN_SECRET: randomBytes(32).toString("hex") };
const relayToken = env.RELAY_TOKEN || sharedRelayToken(env.RELAY_TOKEN_FILE ?? fileURLToPath(new URL(".relay-token", import.meta.url)));

/** The relay token kept in `file`, made there (0600) on first use: one token for every load of this
 *  file, so workers started by a later `pm2 reload` still reach the relay started before. */
function sharedRelayToken(file) {
  try {
    const token = randomBytes(24).toString("hex");
    try {
      writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "wx" }); // only if there is none yet
      return token;
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
    }
    const kept = readFileSync(file, "utf8").trim();
    if (kept === "") throw new Error("the file is empty");
    return kept;
  } catch (err) {
    throw new Error(`ecosystem.config.js: cannot keep the relay token in ${file} (${err.code ?? err.message}): set RELAY_TOKEN or RELAY_TOKEN_FILE`);
  }
}

// A small young generation: a gateway's per-connection state is long-lived, and V8's default
// (16 MB semi-spaces) adds ~2.4 KB of RSS per connection at 8k connections for no throughput gain
// (bench/RESULTS.md, "Issue #3 targets").
const node = (entry) => {
  const script = fileURLToPath(new URL(entry, import.meta.url));
  if (!existsSync(script)) throw new Error(`ecosystem.config.js: ${entry} is missing: run \`npm run build\` (npm install does it) first`);
  return { script: process.execPath, args: ["--max-semi-space-size=2", script], interpreter: "none" };
};
// pm2's cluster mode forks its own node with these flags and imports the script.
const clusterNode = (entry) => {
  const { args } = node(entry);
  return { script: args[1], node_args: [args[0]], exec_mode: "cluster" };
};

export const apps = [
  {
    name: "relay",
    ...node("dist/bin/relay.js"),
    exec_mode: "fork",
    instances: 1,
    autorestart: true,
    kill_timeout: 3000,
    env: { RELAY_HOST: relayHost, RELAY_PORT: relayPort, RELAY_TOKEN: relayToken },
  },
  {
    name: "gateway",
    // Not "fork": see the header (pm2 reload = start the new worker, then stop the old one).
    ...clusterNode("dist/bin/gateway.js"),
    instances,
    // pm2 numbers the instances 0..N-1 in this variable.
    instance_var: "WORKER_ID",
    autorestart: true,
    // gateway.js drains on SIGINT/SIGTERM (handoverTimeout 3 s at most); give it time before SIGKILL.
    kill_timeout: 5000,
    // Zero-downtime reload: the old worker stops only once the new one has said "ready".
    wait_ready: true,
    listen_timeout: 15000,
    env: {
      PORT: env.PORT ?? "3000",
      HOST: env.HOST ?? "0.0.0.0",
      ...(env.APP ? { APP: env.APP } : {}),
      ...tokenSecret,
      ROOMGATE_CLUSTER: env.ROOMGATE_CLUSTER ?? `nats://${relayHost}:${relayPort}`,
      // The local relay's token (a ROOMGATE_CLUSTER_TOKEN given below wins).
      ...(env.ROOMGATE_CLUSTER ? {} : { ROOMGATE_CLUSTER_TOKEN: relayToken }),
      ROOMGATE_REUSE_PORT: "on",
      ...Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("ROOMGATE_") && k !== "ROOMGATE_CLUSTER")),
    },
  },
];

export default { apps };
