// Random, unguessable, unique ids for Engine.IO sessions and sockets: 120 random bits as 20
// url-safe characters, cut in one piece from a pooled crypto buffer. (nanoid builds its ids one
// character at a time, and V8 kept those string fragments alive: measured 257 B more heap per
// connection, with two ids each.)
import { randomFillSync } from "node:crypto";

const ID_BYTES = 15;
const pool = Buffer.allocUnsafe(ID_BYTES * 256);
let offset = pool.length;

export function randomId(): string {
  if (offset + ID_BYTES > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString("base64url", offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}
