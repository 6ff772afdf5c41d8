/**
 * Crafted layer tars for the unpacker's tests, built in memory. Ordinary entries go
 * through tar-stream's pack(); {@link rawHeader} and {@link paxHeader} write blocks by
 * hand (POSIX.1-2017 pax "ustar Interchange Format", "pax Extended Header") for what pack()
 * cannot express: binary PAX values, empty or oversized extended headers, unknown types.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack, type Header } from 'tar-stream';

/** One entry for {@link buildTar}: a tar-stream header and the file content. */
export interface FixtureEntry {
  readonly header: Partial<Header> & Pick<Header, 'name'>;
  readonly content?: string | Buffer;
}

/** A tar of `entries` (with the end-of-archive blocks), as one buffer. */
export async function buildTar(entries: readonly FixtureEntry[]): Promise<Buffer> {
  const packer = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of packer) chunks.push(chunk as Buffer);
  })();
  for (const { header, content } of entries) {
    await new Promise<void>((resolve, reject) => {
      const callback = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (content === undefined) packer.entry({ mtime: new Date(1_700_000_000_000), ...header }, callback);
      else packer.entry({ mtime: new Date(1_700_000_000_000), ...header }, content, callback);
    });
  }
  packer.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Fields of a hand-written header block. */
export interface RawHeader {
  readonly name: string;
  /** The typeflag character: '0' file, '5' dir, 'x' PAX, 'g' global PAX, 'L' GNU long name... */
  readonly typeflag: string;
  readonly size?: number;
  readonly mode?: number;
  readonly linkname?: string;
  readonly prefix?: string;
}

/** A 512-byte ustar header block with a valid checksum. */
export function rawHeader(fields: RawHeader): Buffer {
  const block = Buffer.alloc(512);
  block.write(fields.name, 0, 100, 'utf8');
  octal(block, 100, 8, fields.mode ?? 0o644);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  octal(block, 124, 12, fields.size ?? 0);
  octal(block, 136, 12, 1_700_000_000);
  block.write(fields.typeflag, 156, 1, 'latin1');
  block.write(fields.linkname ?? '', 157, 100, 'utf8');
  block.write('ustar\u000000', 257, 8, 'latin1');
  block.write(fields.prefix ?? '', 345, 155, 'utf8');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  octal(block, 148, 7, sum);
  return block;
}

/** A PAX extended header ('x', or 'g' when `global`) with its records and padding. */
export function paxHeader(records: ReadonlyArray<readonly [string, string | Buffer]>, global = false): Buffer {
  const body = Buffer.concat(records.map(([key, value]) => paxRecord(key, value)));
  return Buffer.concat([rawHeader({ name: 'PaxHeaders/x', typeflag: global ? 'g' : 'x', size: body.length }), pad(body)]);
}

/** A regular file entry written by hand, content and padding included. */
export function rawFile(name: string, content: Buffer | string, mode = 0o644): Buffer {
  const data = Buffer.from(content);
  return Buffer.concat([rawHeader({ name, typeflag: '0', size: data.length, mode }), pad(data)]);
}

/** The two zero blocks that end an archive. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(1024);
}

/** `data` padded with zeros to a whole number of 512-byte blocks. */
export function pad(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}

/** A Readable of `buffer` in chunks of `chunkSize` bytes (to exercise chunk boundaries). */
export function chunked(buffer: Buffer, chunkSize: number): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < buffer.length; i += chunkSize) yield buffer.subarray(i, i + chunkSize);
    })(),
    { objectMode: false },
  );
}

/** A temporary directory and its removal. */
export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `berth-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

function paxRecord(key: string, value: string | Buffer): Buffer {
  const payload = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let length = payload.length + 1;
  while (String(length).length + payload.length !== length) length = String(length).length + payload.length;
  return Buffer.concat([Buffer.from(String(length)), payload]);
}

function octal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'latin1');
}
