// The bench load client's permessage-deflate side (bench/e2e/inflate.ts): the extension response
// it accepts, and messages inflated in order from real zlib deflate streams, with and without
// context takeover (the bench's --deflate runs cover it against the real servers).
import assert from "node:assert/strict";
import { test } from "node:test";
import zlib from "node:zlib";
import { MessageInflater, negotiatedDeflate } from "../../bench/e2e/inflate.ts";

test("negotiatedDeflate: what a client offering `permessage-deflate; client_max_window_bits` may accept", () => {
  assert.deepEqual(negotiatedDeflate("permessage-deflate"), { serverNoContextTakeover: false });
  assert.deepEqual(negotiatedDeflate("permessage-deflate; server_no_context_takeover; client_no_context_takeover"), { serverNoContextTakeover: true });
  assert.deepEqual(negotiatedDeflate("permessage-deflate; client_max_window_bits=15; server_max_window_bits=10"), { serverNoContextTakeover: false });
  assert.equal(negotiatedDeflate("x-webkit-deflate-frame"), null);
  assert.equal(negotiatedDeflate("permessage-deflate, permessage-deflate"), null);
  assert.equal(negotiatedDeflate("permessage-deflate; server_max_window_bits=7"), null);
  assert.equal(negotiatedDeflate("permessage-deflate; unknown_param"), null);
});

/** `messages` compressed as a permessage-deflate sender does: one raw deflate stream (takeover) or
 *  one per message, each flushed with Z_SYNC_FLUSH and its 00 00 ff ff tail cut off. */
async function compressed(messages: string[], takeover: boolean): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let stream: zlib.DeflateRaw | null = null;
  for (const m of messages) {
    if (!stream || !takeover) stream = zlib.createDeflateRaw();
    const s = stream;
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => chunks.push(c);
    s.on("data", onData);
    s.write(m);
    await new Promise<void>((resolve) => s.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    s.off("data", onData);
    const all = Buffer.concat(chunks);
    assert.deepEqual([...all.subarray(-4)], [0, 0, 0xff, 0xff]);
    out.push(all.subarray(0, -4));
  }
  return out;
}

test("MessageInflater: messages inflated in order, with context takeover (reaching 32 KB back) and without", async () => {
  const big = "0123456789abcdef".repeat(3000); // 48 KB: later messages refer back past one message
  const messages = Array.from({ length: 60 }, (_, i) => (i % 9 === 0 ? big.slice(i) : `42["m","${i}|state|x:${i * 7}"]`) + "y".repeat((i * 37) % 500));
  for (const takeover of [true, false]) {
    const frames = await compressed(messages, takeover);
    const inflater = new MessageInflater({ serverNoContextTakeover: !takeover });
    assert.deepEqual(
      frames.map((f) => inflater.inflate(f).toString()),
      messages,
      `takeover ${takeover}`,
    );
  }
  // takeover data read as if it had none fails loudly rather than giving wrong text
  const frames = await compressed([big, big], true);
  const wrong = new MessageInflater({ serverNoContextTakeover: true });
  wrong.inflate(frames[0]!);
  assert.throws(() => wrong.inflate(frames[1]!));
});
