/// <reference types="node" />
// Just enough of the X11 protocol to see what a window paints, with no native module and
// no child process: GetImage of the root window, and the DAMAGE extension, whose events
// say *when* something was drawn on the screen. Xvfb has no compositor and no access
// control by default, so the root window's pixels are what the windows painted and damage
// on the root window covers every window on it (x11vnc watches screens the same way).
// Also: a pixel comparison and a small PNG writer, to keep what was detected.
import { connect, type Socket } from "node:net";
import { deflateSync } from "node:zlib";

export interface Frame {
  width: number;
  height: number;
  /** ZPixmap, 32 bits a pixel (B, G, R, unused), rows without padding. */
  data: Buffer;
  /** performance.now() when the request was sent and when its reply was complete. */
  sent: number;
  received: number;
  /** performance.now() of the last damage event read before this frame's reply (0: none). */
  lastDamage: number;
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

interface Pending {
  ok: (b: Buffer) => void;
  fail: (e: Error) => void;
}

export class X11 {
  private chunks: Buffer[] = [];
  private avail = 0;
  private setupWaiter: ((b: Buffer) => void) | null = null;
  private setupDone = false;
  private seq = 0;
  private pending = new Map<number, Pending>();
  private asyncError: Error | null = null;
  private damageMajor = 0;
  private damageEvent = -1;
  private damageId = 0;
  private idBase = 0;
  root = 0;
  width = 0;
  height = 0;
  depth = 0;
  /** performance.now() of every damage event, in order (cleared by the caller). */
  damageTimes: number[] = [];
  /** X errors for requests without a reply (damage on windows already gone), ignored. */
  ignoredErrors = 0;
  lastDamage = 0;
  /** Called on every damage event, with the damage object's id (pass it to `repair`). */
  onDamage: ((damage: number) => void) | null = null;
  /** Called when a top-level window is mapped, once it is watched. */
  onMap: ((window: number, damage: number) => void) | null = null;
  private watching = false;
  private nextId = 1;

  private constructor(private sock: Socket) {
    sock.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.avail += d.length;
      this.parse();
    });
    sock.on("error", (e) => {
      this.asyncError = e;
      for (const p of this.pending.values()) p.fail(e);
      this.pending.clear();
    });
  }

  /** Connects to ":N" through /tmp/.X11-unix/XN. */
  static async open(display: string): Promise<X11> {
    const m = /^:(\d+)(\.\d+)?$/.exec(display);
    if (!m) throw new Error(`display ${display} is not of the form :N`);
    const sock = connect(`/tmp/.X11-unix/X${m[1]}`);
    await new Promise<void>((ok, fail) => {
      sock.once("connect", () => ok());
      sock.once("error", fail);
    });
    sock.setNoDelay?.(true);
    const x = new X11(sock);
    // Connection setup: little-endian, protocol 11.0, no authorisation.
    const setup = Buffer.alloc(12);
    setup.writeUInt8(0x6c, 0);
    setup.writeUInt16LE(11, 2);
    const reply = await new Promise<Buffer>((ok) => {
      x.setupWaiter = ok;
      sock.write(setup);
      x.parse();
    });
    if (reply.readUInt8(0) !== 1) {
      throw new Error(`the X server refused the connection: ${reply.toString("latin1", 8, 8 + reply.readUInt8(1))}`);
    }
    x.idBase = reply.readUInt32LE(12);
    const vendorLen = reply.readUInt16LE(24);
    const formats = reply.readUInt8(29);
    const screen = 40 + vendorLen + pad4(vendorLen) + 8 * formats;
    x.root = reply.readUInt32LE(screen);
    x.width = reply.readUInt16LE(screen + 20);
    x.height = reply.readUInt16LE(screen + 22);
    x.depth = reply.readUInt8(screen + 38);
    return x;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let o = 0;
      while (o < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - o);
        c.copy(out, o, 0, k);
        o += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.avail -= n;
    return out;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    for (const c of this.chunks) {
      const k = Math.min(c.length, n - o);
      c.copy(out, o, 0, k);
      o += k;
      if (o === n) break;
    }
    return out;
  }

  private parse(): void {
    if (!this.setupDone) {
      if (!this.setupWaiter || this.avail < 8) return;
      const need = 8 + this.peek(8).readUInt16LE(6) * 4;
      if (this.avail < need) return;
      this.setupDone = true;
      const w = this.setupWaiter;
      this.setupWaiter = null;
      w(Buffer.from(this.take(need)));
    }
    while (this.avail >= 32) {
      const head = this.peek(32);
      const kind = head.readUInt8(0);
      const seq = head.readUInt16LE(2);
      if (kind === 1) {
        const need = 32 + head.readUInt32LE(4) * 4;
        if (this.avail < need) return;
        const reply = this.take(need);
        const p = this.pending.get(seq);
        this.pending.delete(seq);
        p?.ok(reply);
      } else if (kind === 0) {
        this.take(32);
        const e = new Error(`X error ${head.readUInt8(1)} (request ${head.readUInt8(10)}.${head.readUInt16LE(8)}, sequence ${seq})`);
        const p = this.pending.get(seq);
        this.pending.delete(seq);
        // An error for a request without a reply is a DamageSubtract or DamageCreate on a
        // window that was destroyed in the meantime (its damage object went with it): harmless.
        if (p) p.fail(e);
        else this.ignoredErrors++;
      } else {
        const ev = Buffer.from(this.take(32));
        const code = kind & 0x7f;
        if (code === this.damageEvent) {
          const now = performance.now();
          this.lastDamage = now;
          this.damageTimes.push(now);
          this.onDamage?.(ev.readUInt32LE(8));
        } else if (code === 19 && this.watching) {
          // MapNotify of a top-level window: watch it for damage too.
          void this.createDamage(ev.readUInt32LE(8)).then((id) => this.onMap?.(ev.readUInt32LE(8), id));
        }
      }
    }
  }

  /** Sends a request; resolves with its reply if it has one. */
  private request(bytes: Buffer, reply: boolean): Promise<Buffer> {
    if (this.asyncError) return Promise.reject(this.asyncError);
    this.seq = (this.seq + 1) & 0xffff;
    const seq = this.seq;
    const p = reply ? new Promise<Buffer>((ok, fail) => this.pending.set(seq, { ok, fail })) : Promise.resolve(Buffer.alloc(0));
    this.sock.write(bytes);
    return p;
  }

  /** The pixels of a rectangle of the root window (the whole screen by default). */
  async grab(x = 0, y = 0, width = this.width, height = this.height): Promise<Frame> {
    const req = Buffer.alloc(20);
    req.writeUInt8(73, 0); // GetImage
    req.writeUInt8(2, 1); // ZPixmap
    req.writeUInt16LE(5, 2);
    req.writeUInt32LE(this.root, 4);
    req.writeInt16LE(x, 8);
    req.writeInt16LE(y, 10);
    req.writeUInt16LE(width, 12);
    req.writeUInt16LE(height, 14);
    req.writeUInt32LE(0xffffffff, 16);
    const sent = performance.now();
    const reply = await this.request(req, true);
    // Read in stream order: every damage event before this reply has been seen.
    const lastDamage = this.lastDamage;
    return { width, height, data: Buffer.from(reply.subarray(32)), sent, received: performance.now(), lastDamage };
  }

  /**
   * Starts watching the screen for drawing (DAMAGE extension, level NonEmpty: one event
   * each time a damage region goes from empty to not empty; `repair(id)` empties it).
   * Damage on a window does not include drawing into its child windows, so each top-level
   * window is watched as it is mapped (SubstructureNotify on the root window), and the root
   * window itself.
   */
  async watchDamage(): Promise<void> {
    const name = Buffer.from("DAMAGE", "latin1");
    const q = Buffer.alloc(8 + name.length + pad4(name.length));
    q.writeUInt8(98, 0); // QueryExtension
    q.writeUInt16LE(q.length / 4, 2);
    q.writeUInt16LE(name.length, 4);
    name.copy(q, 8);
    const r = await this.request(q, true);
    if (r.readUInt8(8) !== 1) throw new Error("the X server has no DAMAGE extension");
    this.damageMajor = r.readUInt8(9);
    this.damageEvent = r.readUInt8(10);
    const v = Buffer.alloc(12);
    v.writeUInt8(this.damageMajor, 0);
    v.writeUInt8(0, 1); // DamageQueryVersion
    v.writeUInt16LE(3, 2);
    v.writeUInt32LE(1, 4);
    v.writeUInt32LE(1, 8);
    await this.request(v, true);
    await this.createDamage(this.root);
    const c = Buffer.alloc(16);
    c.writeUInt8(2, 0); // ChangeWindowAttributes
    c.writeUInt16LE(4, 2);
    c.writeUInt32LE(this.root, 4);
    c.writeUInt32LE(0x800, 8); // CWEventMask
    c.writeUInt32LE(0x80000, 12); // SubstructureNotify
    await this.request(c, false);
    this.watching = true;
  }

  private async createDamage(drawable: number): Promise<number> {
    const id = this.idBase | this.nextId++;
    const c = Buffer.alloc(16);
    c.writeUInt8(this.damageMajor, 0);
    c.writeUInt8(1, 1); // DamageCreate
    c.writeUInt16LE(4, 2);
    c.writeUInt32LE(id, 4);
    c.writeUInt32LE(drawable, 8);
    c.writeUInt8(3, 12); // DamageReportNonEmpty
    await this.request(c, false);
    return id;
  }

  /** Empties a damage region, so that the next drawing there sends a new event. */
  repair(damage: number): void {
    const s = Buffer.alloc(16);
    s.writeUInt8(this.damageMajor, 0);
    s.writeUInt8(3, 1); // DamageSubtract
    s.writeUInt16LE(4, 2);
    s.writeUInt32LE(damage, 4);
    // repair = None, parts = None: subtract everything
    void this.request(s, false);
  }

  close(): void {
    this.sock.destroy();
  }
}

/**
 * How many pixels differ between two frames of the same size: a pixel differs when one
 * of its colour channels differs by more than `tolerance`. Rows above `fromRow` are not
 * compared (a browser's toolbar).
 */
export function diffPixels(a: Frame, b: Frame, tolerance = 24, fromRow = 0): number {
  const n = Math.min(a.data.length, b.data.length) >> 2;
  const ua = new Uint32Array(a.data.buffer, a.data.byteOffset, n);
  const ub = new Uint32Array(b.data.buffer, b.data.byteOffset, n);
  let count = 0;
  for (let i = fromRow * a.width; i < n; i++) {
    const pa = ua[i]! & 0xffffff;
    const pb = ub[i]! & 0xffffff;
    if (pa === pb) continue;
    if (
      Math.abs((pa & 0xff) - (pb & 0xff)) > tolerance ||
      Math.abs(((pa >> 8) & 0xff) - ((pb >> 8) & 0xff)) > tolerance ||
      Math.abs(((pa >> 16) & 0xff) - ((pb >> 16) & 0xff)) > tolerance
    ) {
      count++;
    }
  }
  return count;
}

const CRC = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const byte of b) c = CRC[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A frame as a PNG file's bytes (RGB, 8 bits a channel). */
export function png(f: Frame): Buffer {
  const raw = Buffer.alloc((f.width * 3 + 1) * f.height);
  let o = 0;
  for (let y = 0; y < f.height; y++) {
    raw[o++] = 0;
    for (let x = 0; x < f.width; x++) {
      const i = (y * f.width + x) * 4;
      raw[o++] = f.data[i + 2]!;
      raw[o++] = f.data[i + 1]!;
      raw[o++] = f.data[i]!;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(f.width, 0);
  ihdr.writeUInt32BE(f.height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
