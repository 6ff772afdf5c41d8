import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createDecompressor } from '../../../image/decompress.js';

async function gunzip(chunks: readonly Buffer[]): Promise<Buffer> {
  return buffer(Readable.from(chunks).pipe(createDecompressor('gzip')));
}

/** Compressible but not trivial: text with random words. */
function sample(size: number): Buffer {
  const words = Array.from({ length: 512 }, () => randomBytes(6).toString('hex'));
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    const w = words[Math.floor(Math.random() * words.length)] ?? 'x';
    parts.push(w);
    length += w.length + 1;
  }
  return Buffer.from(parts.join(' ')).subarray(0, size);
}

function split(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

describe('gzip decompression (ISA-L)', () => {
  it('matches the original for large data fed in odd chunk sizes', async () => {
    const data = sample(5 * 1024 * 1024 + 17);
    const gz = gzipSync(data);
    for (const size of [1, 4093, 65536, gz.length]) {
      if (size === 1 && gz.length > 200_000) {
        // One byte at a time over the header and the first blocks only.
        const head = await gunzip([...split(gz.subarray(0, 4096), 1), gz.subarray(4096)]);
        expect(head.equals(data)).toBe(true);
        continue;
      }
      expect((await gunzip(split(gz, size))).equals(data)).toBe(true);
    }
  });

  it('reads concatenated gzip members as one stream', async () => {
    const a = sample(100_000);
    const b = sample(50_000);
    expect((await gunzip([Buffer.concat([gzipSync(a), gzipSync(b)])])).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('decompresses an empty member', async () => {
    expect((await gunzip([gzipSync(Buffer.alloc(0))])).length).toBe(0);
  });

  it('fails on corrupt data with a zlib error code', async () => {
    const gz = gzipSync(sample(100_000));
    gz[gz.length - 5] = (gz[gz.length - 5] ?? 0) ^ 0xff;
    await expect(gunzip([gz])).rejects.toMatchObject({ code: 'Z_DATA_ERROR' });
  });

  it('fails on a truncated stream', async () => {
    const gz = gzipSync(sample(100_000));
    await expect(gunzip([gz.subarray(0, gz.length - 10)])).rejects.toMatchObject({ code: 'Z_BUF_ERROR', message: 'unexpected end of file' });
  });

  it('fails on empty input and on trailing garbage', async () => {
    await expect(gunzip([])).rejects.toMatchObject({ code: 'Z_BUF_ERROR' });
    await expect(gunzip([Buffer.concat([gzipSync(Buffer.from('x')), Buffer.from('garbage')])])).rejects.toMatchObject({
      code: 'Z_DATA_ERROR', message: 'trailing garbage after gzip data',
    });
  });

  it('fails on data that is not gzip', async () => {
    await expect(gunzip([Buffer.from('this is not gzip at all')])).rejects.toMatchObject({ code: 'Z_DATA_ERROR' });
  });
});
