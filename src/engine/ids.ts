// Random, unguessable, unique ids for Engine.IO sessions and sockets: nanoid's 21 url-safe
// characters (126 random bits, from its pooled crypto buffer), flattened into one string.
// nanoid builds an id one character at a time, a chain of 21 string fragments that V8 keeps alive
// as long as the id lives: measured 328 B of heap per id held, against 48 B once flattened,
// the same as the earlier 20-character base64url cut of a crypto pool (bench/ids-heap.ts: 10,000
// ids held; a connection holds two). Flattening costs ~0.3 µs per id. Knows nothing of what the
// ids name.
import { nanoid } from "nanoid";

export function randomId(): string {
  // A latin1 round trip copies the characters into one flat sequential string (the id is ASCII).
  return Buffer.from(nanoid(), "latin1").toString("latin1");
}
