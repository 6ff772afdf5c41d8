import { describe, expect, it } from 'vitest';
import { binarySize, humanSize } from '../../../cmd/format.js';

describe('sizes as docker prints them', () => {
  it('humanSize: go-units HumanSizeWithPrecision(n, 3), 1000-based', () => {
    expect([humanSize(0), humanSize(812), humanSize(4_260_000), humanSize(1_000_000), humanSize(1.98e6)]).toEqual(['0B', '812B', '4.26MB', '1MB', '1.98MB']);
  });

  it('binarySize: go-units BytesSize, four digits, 1024-based (docker stats memory)', () => {
    expect([binarySize(452 * 1024), binarySize(64 * 1024 ** 2), binarySize(1_503_238), binarySize(1.944 * 1024 ** 3), binarySize(1023)])
      .toEqual(['452KiB', '64MiB', '1.434MiB', '1.944GiB', '1023B']);
  });
});
