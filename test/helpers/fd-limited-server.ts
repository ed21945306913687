// A lone server for test/limits.test.ts, started under a low `ulimit -n` by the test, asking for
// more connections than that allows (MAX_CONNECTIONS). Prints its warnings (stderr) and then
// `listening <port> maxConnections <n>` (stdout); stops on SIGTERM or when the test goes away.
import { Server } from "../../src/index.ts";

const io = new Server({ logger: "warn", maxConnections: Number(process.env.MAX_CONNECTIONS) });
const port = await io.listen(0, "127.0.0.1");
console.log(`listening ${port} maxConnections ${io.opts.maxConnections}`);
process.on("SIGTERM", () => void io.close().then(() => process.exit(0)));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
