import { describe, expect, it } from 'vitest';
import { normaliseServer } from '../../../image/index.js';

describe('normaliseServer', () => {
  it('keeps host and port, without scheme or path', () => {
    expect(normaliseServer('https://registry.example:5000/v2/')).toBe('registry.example:5000');
    expect(normaliseServer('localhost:5000')).toBe('localhost:5000');
  });

  it('names Docker Hub docker.io, whichever of its hosts is given', () => {
    expect(normaliseServer('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normaliseServer('registry-1.docker.io')).toBe('docker.io');
    expect(normaliseServer('docker.io')).toBe('docker.io');
  });
});
