// socket.io-msgpack-parser for the custom-parser tests, imported by its package name when it is
// installed (a devDependency: `npm install -D socket.io-msgpack-parser@3`); the tests that need it
// skip with that message otherwise. Also a counting wrapper (encode calls of a parser module).
import type { Parser, ParserEncoder, ParserPacket } from "../../src/index.ts";

const NAME = "socket.io-msgpack-parser";

/** The module, or null when it is not installed (the specifier is a variable: tsc does not need it). */
export const msgpackParser: Parser | null = await import(NAME).then(
  (m: { default?: Parser } & Parser) => m.default ?? m,
  () => null,
);

export const SKIP_MSGPACK: string | false = msgpackParser ? false : `${NAME} is not installed (npm install -D ${NAME}@3)`;

/** The parser with its encode() calls counted (every Encoder it makes adds to `counter.encodes`). */
export function counting(parser: Parser, counter: { encodes: number; packets: ParserPacket[] }): Parser {
  class CountingEncoder implements ParserEncoder {
    private readonly inner = new parser.Encoder();
    encode(packet: ParserPacket): unknown[] {
      counter.encodes++;
      counter.packets.push(packet);
      return this.inner.encode(packet);
    }
  }
  return { Encoder: CountingEncoder, Decoder: parser.Decoder };
}
