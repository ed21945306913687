// The live dashboard in a real browser (Debian's chromium through playwright-core): it shows the
// connection count and the largest rooms, updates itself as traffic flows, searches rooms, and
// is refused without its token. Leaves a screenshot in bench/results/dashboard.png (gitignored).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { operations } from "../../src/index.ts";
import { settle, startServer } from "../helpers/server.ts";
import { until } from "../helpers/wait.ts";

/** The page's DOM as the functions run inside the browser see it (this project compiles without lib.dom). */
interface El {
  textContent: string | null;
  firstElementChild: El | null;
  children: ArrayLike<El>;
}
declare const document: { getElementById(id: string): El | null; querySelectorAll(selector: string): ArrayLike<El> & Iterable<El> };

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const SCREENSHOT = new URL("../../bench/results/dashboard.png", import.meta.url).pathname;

test(
  "the dashboard shows aggregates, updates live and searches rooms",
  { skip: CHROMIUM ? false : "chromium is not installed (.ci/run installs it: apt-get install chromium)" },
  async () => {
    const h = await startServer({ operations: operations({ dashboard: true, token: "tok" }), logger: "silent" });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
    try {
      h.io.on("connection", (s) => s.join(String(s.handshake.auth.room)));
      const sizes: Record<string, number> = { "game:big": 12, "game:mid": 5, "desk:small": 2 };
      const clients = [];
      for (const [room, n] of Object.entries(sizes)) for (let i = 0; i < n; i++) clients.push(await h.connected("/", { auth: { room } }));

      assert.equal((await fetch(h.url + "/dashboard")).status, 401);
      assert.equal((await fetch(h.url + "/dashboard.json?token=nope")).status, 401);

      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${h.url}/dashboard?token=tok`);
      await page.waitForFunction(() => document.getElementById("connections")?.textContent === "19", null, { timeout: 10000 });
      const firstRoom = () => page.$$eval("#rooms tr", (rows) => rows.slice(1).map((r) => [...r.children].map((c) => c.textContent)));
      assert.deepEqual((await firstRoom())[0], ["/", "game:big", "12"]);

      // Traffic: the page turns the counters into rates on its next polls.
      const stop = setInterval(() => h.io.to("game:big").emit("tick", Date.now()), 20);
      try {
        await page.waitForFunction(
          () => {
            const row = [...document.querySelectorAll("#rates tr")].find((r) => r.firstElementChild?.textContent === "native");
            return row !== undefined && Number.parseFloat(row.children[2].textContent ?? "0") > 0;
          },
          null,
          { timeout: 10000 },
        );
      } finally {
        clearInterval(stop);
      }
      await settle(...clients);

      await page.fill("#search", "desk");
      await page.waitForFunction(() => document.querySelectorAll("#rooms tr").length === 2, null, { timeout: 10000 });
      assert.deepEqual(await firstRoom(), [["/", "desk:small", "2"]]);
      await page.fill("#search", "");

      clients.pop()!.disconnect();
      await until(() => h.io.engineEndpoint.clientsCount === 18, "18 clients");
      await page.waitForFunction(() => document.getElementById("connections")?.textContent === "18", null, { timeout: 10000 });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    } finally {
      await browser.close();
      await h.close();
    }
  },
);
