/**
 * Turns a failed registry response into a RegistryError that carries the registry's own
 * words: the distribution-spec error body `{"errors":[{"code","message","detail"}]}`
 * (distribution-spec spec.md "Error Codes"), a token server's `{"details"}` (Docker Hub)
 * or OAuth2 `{"error","error_description"}`, or a short plain-text body.
 */
import { STATUS_CODES } from 'node:http';
import { InterruptedError, RegistryError } from '../../common/errors.js';
import { headerValue, readLimited, type HttpResponse, type RequestContext } from './http.js';

/** Hints that replace the defaults for one operation. */
export interface ErrorHints {
  readonly unauthorized?: string;
  readonly notFound?: string;
}

/** What a registry said about a failure. */
export interface RegistryMessage {
  /** Distribution error codes, e.g. `MANIFEST_UNKNOWN`. */
  readonly codes: readonly string[];
  /** The registry's messages joined, or undefined when it said nothing useful. */
  readonly message: string | undefined;
}

/** Error bodies are small; reading more than this would only waste memory. */
const maxErrorBody = 64 * 1024;
const maxTextMessage = 200;

/**
 * Reads (and so consumes) the body of a failed response and builds the error to throw.
 * Never throws itself: a body that cannot be read only loses the registry's message, and
 * an abort while reading it gives InterruptedError.
 */
export async function responseError(
  response: HttpResponse, context: RequestContext, hints: ErrorHints = {},
): Promise<RegistryError | InterruptedError> {
  let said: RegistryMessage = { codes: [], message: undefined };
  try {
    const bytes = await readLimited(response, maxErrorBody, context);
    if (bytes !== undefined) said = parseRegistryMessage(bytes, headerValue(response.headers, 'content-type'));
  } catch (err) {
    if (err instanceof InterruptedError) return err;
    // The status alone still explains the failure.
  }
  return statusError(response, said, context, hints);
}

function statusError(response: HttpResponse, said: RegistryMessage, context: RequestContext, hints: ErrorHints): RegistryError {
  const { status } = response;
  const login = `"berth login ${context.domain}"`;
  const options = { status, registryCodes: said.codes };
  const firstCode = said.codes[0];
  switch (status) {
    case 401:
      return new RegistryError(describe(context, 'unauthorized', said), {
        ...options,
        hint: hints.unauthorized ?? `Log in with ${login} if the repository is private, and check that its name is right`,
      });
    case 403:
      return new RegistryError(describe(context, 'denied', said), {
        ...options,
        hint: hints.unauthorized ?? `Check that your account may read it, or log in with ${login}`,
      });
    case 404:
      return new RegistryError(describe(context, firstCode === undefined ? 'not found' : codeText(firstCode), said), {
        ...options,
        hint: hints.notFound ?? `Check the name, tag or digest; a private repository may answer "not found" until you run ${login}`,
      });
    case 429: {
      const retryAfter = headerValue(response.headers, 'retry-after');
      const wait = retryAfter === undefined ? '' : `; retry after ${/^\d+$/.test(retryAfter) ? `${retryAfter} seconds` : retryAfter}`;
      return new RegistryError(describe(context, 'too many requests', said) + wait, {
        ...options,
        hint: `Wait and try again; logging in with ${login} may raise the rate limit`,
      });
    }
    default: {
      const summary = `the registry answered ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
      return new RegistryError(describe(context, summary, said), {
        ...options,
        hint: status >= 500 ? 'The registry failed; try again later' : `Check the request and the registry "${context.domain}"`,
      });
    }
  }
}

function describe(context: RequestContext, summary: string, said: RegistryMessage): string {
  const message = said.message === undefined || said.message.toLowerCase() === summary ? '' : `: ${said.message}`;
  return `${context.operation}: ${summary}${message}`;
}

/** `MANIFEST_UNKNOWN` → "manifest unknown", as docker's errcode prints codes. */
export function codeText(code: string): string {
  return code.toLowerCase().replace(/_/g, ' ');
}

/** Parses an error body; never throws. */
export function parseRegistryMessage(bytes: Buffer, contentType: string | undefined): RegistryMessage {
  const text = bytes.toString('utf8').trim();
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return { codes: [], message: plainText(text, contentType) };
  }
  if (!isRecord(document)) return { codes: [], message: undefined };
  const fromErrors = parseErrorList(document['errors']);
  if (fromErrors !== undefined) return fromErrors;
  for (const key of ['details', 'error_description', 'message', 'error']) {
    const value = document[key];
    if (typeof value === 'string' && value.trim() !== '') return { codes: [], message: clip(value.trim()) };
  }
  return { codes: [], message: undefined };
}

function parseErrorList(value: unknown): RegistryMessage | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const codes: string[] = [];
  const messages: string[] = [];
  for (const item of value) {
    if (!isRecord(item)) continue;
    const code = item['code'];
    const message = item['message'];
    if (typeof code === 'string' && code !== '') codes.push(code);
    const fallback = typeof code === 'string' ? codeText(code) : '';
    const text = typeof message === 'string' && message.trim() !== '' ? message.trim() : fallback;
    if (text !== '' && !messages.includes(text)) messages.push(text);
  }
  return { codes, message: messages.length === 0 ? undefined : clip(messages.join('; ')) };
}

function plainText(text: string, contentType: string | undefined): string | undefined {
  // An HTML error page says nothing a user can act on.
  if (text === '' || (contentType ?? '').includes('html') || text.startsWith('<')) return undefined;
  return clip(text.split('\n')[0] ?? '');
}

function clip(text: string): string {
  return text.length > maxTextMessage ? `${text.slice(0, maxTextMessage)}…` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
