/**
 * Random container names of docker's shape, "adjective_surname" (moby's
 * pkg/namesgenerator), from berth's own short lists.
 */
import { randomInt } from 'node:crypto';

const left = [
  'admiring', 'bold', 'brave', 'busy', 'calm', 'clever', 'cool', 'dazzling', 'eager', 'elastic', 'epic', 'festive', 'focused',
  'friendly', 'gallant', 'gifted', 'happy', 'hopeful', 'jolly', 'keen', 'kind', 'lucid', 'modest', 'nifty', 'optimistic',
  'peaceful', 'quirky', 'relaxed', 'serene', 'sharp', 'stoic', 'sweet', 'tender', 'trusting', 'vibrant', 'wizardly', 'zealous',
];

const right = [
  'agnesi', 'babbage', 'bardeen', 'bhabha', 'curie', 'darwin', 'dijkstra', 'einstein', 'euler', 'fermat', 'franklin', 'galois',
  'gauss', 'hamilton', 'hopper', 'hypatia', 'johnson', 'kepler', 'knuth', 'lamarr', 'lovelace', 'maxwell', 'meitner', 'noether',
  'pascal', 'ramanujan', 'ritchie', 'shannon', 'thompson', 'torvalds', 'turing', 'wozniak', 'yalow',
];

/** A random name; `attempt` > 0 adds a number, as docker does on a collision. */
export function randomName(attempt = 0): string {
  const name = `${left[randomInt(left.length)] ?? 'bold'}_${right[randomInt(right.length)] ?? 'turing'}`;
  return attempt === 0 ? name : `${name}${randomInt(10)}`;
}

/** docker's rule for container names (daemon/names.go): [a-zA-Z0-9][a-zA-Z0-9_.-]+. */
export function isValidName(name: string): boolean {
  return /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name);
}
