/**
 * Pull progress for people: on a terminal a bar per layer with bytes and speed (cli-progress);
 * elsewhere plain lines as docker prints them when not on a TTY; nothing with `-q`.
 */
import cliProgress from 'cli-progress';
import type { Descriptor, Digest } from '../oci/index.js';
import type { PullProgress } from '../image/index.js';
import { humanSize, shortId } from './format.js';

/** A {@link PullProgress} that also prints the lines around it. */
export interface PullReporter extends PullProgress {
  /** Prints a status line. */
  line(text: string): void;
  /** Stops bars, leaving the final state on screen. */
  stop(): void;
}

/** Chooses the reporter for the output stream and flags. */
export function createPullReporter(out: NodeJS.WriteStream, quiet: boolean): PullReporter {
  if (quiet) return { line: () => undefined, stop: () => undefined };
  return out.isTTY ? new BarReporter(out) : new LineReporter(out);
}

const outcomeText = { exists: 'Already exists', unpacked: 'Pull complete', downloaded: 'Pull complete' } as const;

class LineReporter implements PullReporter {
  readonly #out: NodeJS.WritableStream;

  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
  }

  line(text: string): void {
    this.#out.write(`${text}\n`);
  }

  layers(layers: readonly Descriptor[]): void {
    for (const l of layers) this.line(`${shortId(l.digest)}: Pulling fs layer`);
  }

  layerDone(layer: Digest, outcome: keyof typeof outcomeText): void {
    this.line(`${shortId(layer)}: ${outcomeText[outcome]}`);
  }

  stop(): void {}
}

class BarReporter implements PullReporter {
  readonly #bars = new Map<string, cliProgress.SingleBar>();
  readonly #started = new Map<string, number>();
  readonly #multi: cliProgress.MultiBar;
  readonly #out: NodeJS.WriteStream;
  #drawing = false;

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
    this.#multi = new cliProgress.MultiBar(
      {
        stream: out,
        hideCursor: true,
        clearOnComplete: false,
        format: '{id}: {status} [{bar}] {done}/{size} {speed}',
        barsize: 30,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  line(text: string): void {
    // While bars are drawn, lines go above them; before and after, straight out.
    if (this.#drawing) this.#multi.log(`${text}\n`);
    else this.#out.write(`${text}\n`);
  }

  layers(layers: readonly Descriptor[]): void {
    this.#drawing = true;
    for (const l of layers) {
      const bar = this.#multi.create(l.size, 0, { id: shortId(l.digest), status: 'Waiting       ', done: '0B', size: humanSize(l.size), speed: '' });
      this.#bars.set(l.digest, bar);
    }
  }

  bytes(layer: Digest, n: number): void {
    const bar = this.#bars.get(layer);
    if (bar === undefined) return;
    const start = this.#started.get(layer) ?? Date.now();
    this.#started.set(layer, start);
    const value = bar.getProgress() * bar.getTotal() + n;
    const seconds = Math.max((Date.now() - start) / 1000, 0.001);
    bar.update(value, { status: 'Downloading   ', done: humanSize(value), speed: `${humanSize(value / seconds)}/s` });
  }

  layerDone(layer: Digest, outcome: keyof typeof outcomeText): void {
    const bar = this.#bars.get(layer);
    bar?.update(bar.getTotal(), { status: outcomeText[outcome].padEnd(14), done: humanSize(bar.getTotal()) });
  }

  stop(): void {
    if (!this.#drawing) return;
    this.#drawing = false;
    this.#multi.stop();
  }
}
