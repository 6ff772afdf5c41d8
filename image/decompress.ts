/**
 * Decompression of layer blobs as streams: gzip through zlib (on libuv's thread pool, so
 * layers decompress in parallel), zstd through zlib where Node has it (22.15+) and the pure
 * JavaScript fzstd decoder otherwise.
 */
import { Transform, PassThrough, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { Decompress } from 'fzstd';
import type { LayerCompression } from '../oci/index.js';

/** A Transform from compressed to uncompressed bytes for `compression`. */
export function createDecompressor(compression: LayerCompression): Transform {
  switch (compression) {
    case 'none':
      return new PassThrough({ highWaterMark: 1 << 20 });
    case 'gzip':
      // Layers are sometimes concatenated gzip members; zlib handles that by default.
      return zlib.createGunzip({ chunkSize: 1 << 18 });
    case 'zstd':
      return createZstdDecompressor();
  }
}

function createZstdDecompressor(): Transform {
  const native: unknown = Reflect.get(zlib, 'createZstdDecompress');
  if (typeof native === 'function') return native.call(zlib) as Transform;
  return new FzstdTransform();
}

/** fzstd's streaming decoder behind a Transform. */
class FzstdTransform extends Transform {
  readonly #decoder: Decompress;

  constructor() {
    super();
    this.#decoder = new Decompress((data) => {
      // fzstd reuses no buffers; copy-free hand-off.
      this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#decoder.push(chunk);
      callback();
    } catch (err) {
      callback(err instanceof Error ? err : new Error(String(err)));
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#decoder.push(new Uint8Array(0), true);
      callback();
    } catch (err) {
      callback(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
