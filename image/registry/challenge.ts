/**
 * `WWW-Authenticate` challenges (RFC 9110 §11.6.1, RFC 6750 §3): a scheme followed by
 * comma-separated `name=value` or `name="quoted value"` parameters; one header may carry
 * several challenges and a response several headers. Distribution registries answer 401
 * with `Bearer realm="…",service="…",scope="…"` (distribution docs "Token Authentication
 * Specification") or `Basic realm="…"`.
 */

/** One parsed challenge. */
export interface Challenge {
  /** Lower-case scheme: "bearer", "basic", … */
  readonly scheme: string;
  /** Parameters by lower-case name. */
  readonly params: ReadonlyMap<string, string>;
}

const tokenChar = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** Parses every challenge of one or more `WWW-Authenticate` header values; never throws. */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = typeof header === 'string' ? [header] : header;
  return values.flatMap(parseOne);
}

function parseOne(value: string): Challenge[] {
  const challenges: { scheme: string; params: Map<string, string> }[] = [];
  let i = 0;
  const skip = (chars: RegExp): void => {
    while (i < value.length && chars.test(value.charAt(i))) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < value.length && tokenChar.test(value.charAt(i))) i++;
    return value.slice(start, i);
  };
  while (i < value.length) {
    skip(/[\s,]/);
    const token = readToken();
    if (token === '') {
      if (i < value.length) i++; // A stray character: step over it.
      continue;
    }
    skip(/\s/);
    if (value.charAt(i) !== '=') {
      challenges.push({ scheme: token.toLowerCase(), params: new Map() });
      continue;
    }
    i++;
    skip(/\s/);
    const param = value.charAt(i) === '"' ? readQuoted() : readToken();
    // A token68 (`Basic abc==`) ends in "=" characters; parameters need a challenge.
    challenges.at(-1)?.params.set(token.toLowerCase(), param);
  }
  return challenges;

  function readQuoted(): string {
    let out = '';
    i++; // opening quote
    while (i < value.length && value.charAt(i) !== '"') {
      if (value.charAt(i) === '\\' && i + 1 < value.length) i++;
      out += value.charAt(i);
      i++;
    }
    i++; // closing quote
    return out;
  }
}
