// One load client's Engine.IO long-polling link (bench/e2e/client.ts, --scenarios polling): raw HTTP/1.1
// keep-alive over node:net, no HTTP library. Two sockets, as a browser uses: one carries the
// handshake GET and then one long-poll GET after another (the next sent as soon as the previous
// answer is read), the other the POSTs, one at a time (Engine.IO ends a session on overlapping
// POSTs), packets queued meanwhile go out together in the next one. Answers must carry a
// Content-Length (both uWS and Engine.IO on node:http send one). Knows nothing of Socket.IO
// packets or of what a delivery is: it hands each answer's body over whole.
import net from "node:net";

export interface PollingHooks {
  /** The handshake answer's body (`0{"sid":…}`), when it was 200 OK. */
  onOpen(body: Buffer): void;
  /** A poll answer's body (packets separated by \x1e). */
  onPayload(body: Buffer): void;
  /** The link broke: a refused request, a socket closed mid-request, an unreadable answer. */
  onFail(why: string): void;
}

interface Http {
  sock: net.Socket;
  buf: Buffer | null;
  /** Request in flight (its answer not read yet). */
  busy: boolean;
  onAnswer: (status: number, body: Buffer) => void;
}

const MAX_HEAD = 16384;

export class PollingLink {
  private poll: Http | null = null;
  private post: Http | null = null;
  private sid = "";
  private queued: string[] = [];
  private dead = false;

  constructor(
    private readonly port: number,
    private readonly localAddress: string,
    /** `/socket.io/?EIO=4&transport=polling&…` (the handshake's query: rooms and cid). */
    private readonly handshakePath: string,
    private readonly hooks: PollingHooks,
  ) {}

  /** The poll socket (closed when the link ends), for the caller's bookkeeping. */
  get socket(): net.Socket | null {
    return this.poll?.sock ?? null;
  }

  /** Sends the handshake GET. */
  start(): void {
    this.poll = this.open((status, body) => {
      if (status !== 200) return this.fail(`handshake answered ${status}: ${body.toString("latin1", 0, 120)}`);
      this.hooks.onOpen(body);
    });
    this.get(this.poll, this.handshakePath);
  }

  /** The handshake told the session id: long-polling starts. */
  opened(sid: string): void {
    this.sid = sid;
    const poll = this.poll!;
    poll.onAnswer = (status, body) => {
      if (status !== 200) return this.fail(`poll answered ${status}: ${body.toString("latin1", 0, 120)}`);
      this.get(poll, this.sessionPath()); // the next poll first: the server may hold packets already
      this.hooks.onPayload(body);
    };
    this.get(poll, this.sessionPath());
    this.flushPost();
  }

  /** Queues one Engine.IO packet for the next POST. */
  send(packet: string): void {
    if (this.dead) return;
    this.queued.push(packet);
    this.flushPost();
  }

  /** Ends the link quietly: a close packet (`1`) POSTed when a session exists, then both sockets
   *  destroyed once it is answered (or at once). `done` runs once. */
  close(done: () => void): void {
    let called = false;
    const finish = (): void => {
      if (called) return;
      called = true;
      this.destroy();
      done();
    };
    if (this.dead || this.sid === "") return finish();
    this.dead = true;
    this.queued = [];
    const h = this.post && !this.post.sock.destroyed && !this.post.busy ? this.post : this.open(() => {});
    h.onAnswer = finish;
    h.sock.once("close", finish);
    this.request(h, "POST", this.sessionPath(), "1");
  }

  destroy(): void {
    this.dead = true;
    this.poll?.sock.destroy();
    this.post?.sock.destroy();
  }

  private fail(why: string): void {
    if (this.dead) return;
    this.destroy();
    this.hooks.onFail(why);
  }

  private sessionPath(): string {
    return `/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(this.sid)}`;
  }

  private flushPost(): void {
    if (this.queued.length === 0 || this.sid === "") return;
    if (this.post === null || this.post.sock.destroyed) {
      // (re)opened lazily: servers close an idle keep-alive connection after a few seconds
      this.post = this.open((status, body) => {
        if (status !== 200) return this.fail(`POST answered ${status}: ${body.toString("latin1", 0, 120)}`);
        this.flushPost();
      });
    }
    if (this.post.busy) return;
    const body = this.queued.join("\x1e");
    this.queued = [];
    this.request(this.post, "POST", this.sessionPath(), body);
  }

  private open(onAnswer: Http["onAnswer"]): Http {
    const sock = net.connect({ host: "127.0.0.1", port: this.port, localAddress: this.localAddress });
    sock.setNoDelay(true);
    const h: Http = { sock, buf: null, busy: false, onAnswer };
    sock.on("data", (chunk: Buffer) => this.onData(h, chunk));
    sock.on("error", (err) => this.fail(err.message));
    sock.on("close", () => {
      // an idle POST connection may be closed by the server; anything else ends the link
      if (h.busy || h === this.poll) this.fail(h.busy ? "socket closed with a request in flight" : "poll socket closed");
    });
    return h;
  }

  private get(h: Http, path: string): void {
    this.request(h, "GET", path, null);
  }

  private request(h: Http, method: "GET" | "POST", path: string, body: string | null): void {
    h.busy = true;
    const head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nConnection: keep-alive\r\n`;
    if (body === null) h.sock.write(`${head}\r\n`);
    else h.sock.write(`${head}Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }

  /** HTTP/1.1 answers with a Content-Length, possibly several in one chunk. */
  private onData(h: Http, chunk: Buffer): void {
    let buf = h.buf ? Buffer.concat([h.buf, chunk]) : chunk;
    h.buf = null;
    while (buf.length > 0) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buf.length > MAX_HEAD) return this.fail("oversized HTTP answer head");
        break;
      }
      const head = buf.toString("latin1", 0, end);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (!status) return this.fail(`not an HTTP answer: ${head.slice(0, 60)}`);
      if (/\r\ntransfer-encoding:/i.test(head)) return this.fail("answer without Content-Length (chunked) not supported");
      const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const n = len ? Number(len[1]) : 0;
      if (buf.length < end + 4 + n) break;
      const body = buf.subarray(end + 4, end + 4 + n);
      buf = buf.subarray(end + 4 + n);
      if (!h.busy) return this.fail("HTTP answer without a request");
      h.busy = false;
      h.onAnswer(Number(status[1]), body);
      if (this.dead) return;
    }
    if (buf.length > 0) h.buf = buf;
  }
}
