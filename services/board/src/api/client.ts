// How the board talks to the gateway: queries and mutations as HTTP POSTs to
// /graphql (a refused token is a plain 401, a network failure a plain
// rejection), subscriptions over one graphql-ws WebSocket that reconnects
// forever and resumes every subscription from its last cursor.
import { createClient, type Client } from 'graphql-ws';
import { createStore } from '../state/store';

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

export interface GraphQLErrorShape {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

/** An answer with errors, a refused token or a network failure. */
export class APIError extends Error {
  readonly code: string;
  readonly errors: GraphQLErrorShape[];

  constructor(code: string, message: string, errors: GraphQLErrorShape[] = []) {
    super(message);
    this.name = 'APIError';
    this.code = code;
    this.errors = errors;
  }
}

export function errorCode(err: unknown): string {
  return err instanceof APIError ? err.code : 'ERROR';
}

export function errorText(err: unknown): string {
  if (err instanceof APIError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: GraphQLErrorShape[];
}

/** One POST to /graphql with the bearer token; errors become APIError. */
export async function request<T>(token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/graphql-response+json, application/json',
        Authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query, variables }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (err) {
    throw new APIError('NETWORK', `the gateway did not answer (${err instanceof Error ? err.message : String(err)})`);
  }
  if (response.status === 401) throw new APIError('UNAUTHENTICATED', 'the token was refused');
  let body: GraphQLResponse<T>;
  try {
    body = (await response.json()) as GraphQLResponse<T>;
  } catch {
    throw new APIError('HTTP', `the gateway answered HTTP ${response.status} without a GraphQL body`);
  }
  const first = body.errors?.[0];
  if (first) {
    throw new APIError(first.extensions?.code ?? 'ERROR', first.message, body.errors ?? []);
  }
  if (!response.ok || body.data == null) {
    throw new APIError('HTTP', `the gateway answered HTTP ${response.status}`);
  }
  return body.data;
}

function socketURL(): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/graphql`;
}

// Close codes with which the gateway refuses the token itself: retrying
// cannot help, the person has to sign in again.
const refusedTokenCodes = new Set([4401, 4403]);

export interface LiveSubscription<TEvent> {
  query: string;
  variables?: Record<string, unknown>;
  /** Every event, in order; its cursor has already been recorded. */
  onEvent: (event: TEvent) => void;
  /** The server refused the subscription (for example an expired cursor). */
  onError?: (errors: GraphQLErrorShape[]) => void;
  cursorOf: (event: TEvent) => string;
}

/** One subscription: stop it, or ask where it stands. */
export interface LiveHandle {
  dispose(): void;
  /** The cursor it resumes from after a reconnect: null while it has none (it would resume live only). */
  cursor(): string | null;
}

export interface Live {
  readonly connection: ReturnType<typeof createStore<ConnectionState>>;
  /** Runs after every reconnect (not the first connect). */
  onReconnected(listener: () => void): () => void;
  /** Subscribes; after every reconnect, resumes after the last cursor seen (or the `after` it started with). */
  subscribe<TEvent>(sub: LiveSubscription<TEvent>): LiveHandle;
  dispose(): void;
}

/** Keep-alive: a ping every 10 s; no pong within 5 s means a dead socket. */
const pingEveryMs = 10_000;
const pongWithinMs = 5_000;

export function createLive(token: string, onTokenRefused: () => void): Live {
  const connection = createStore<ConnectionState>('connecting');
  const reconnectListeners = new Set<() => void>();
  let connectedBefore = false;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;

  const client: Client = createClient({
    url: socketURL(),
    connectionParams: () => ({ Authorization: `Bearer ${token}` }),
    lazy: false,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    // 0.25 s, 0.5 s, 1 s, then every 2 s, with jitter so a wall of boards
    // does not reconnect in lock-step after a gateway restart.
    retryWait: (retries) =>
      new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** retries, 2_000) * (0.8 + Math.random() * 0.4))),
    keepAlive: pingEveryMs,
    onNonLazyError: () => {
      // Only reached when retrying stops (a refused token, handled below).
    },
  });

  client.on('connecting', () => {
    connection.set(connectedBefore ? 'disconnected' : 'connecting');
  });
  client.on('connected', () => {
    const reconnected = connectedBefore;
    connectedBefore = true;
    connection.set('connected');
    if (reconnected) for (const listener of reconnectListeners) listener();
  });
  client.on('closed', (event) => {
    clearTimeout(pongTimer);
    if (connection.get() === 'connected' || connectedBefore) connection.set('disconnected');
    const code = (event as { code?: number } | undefined)?.code;
    if (code !== undefined && refusedTokenCodes.has(code)) onTokenRefused();
  });
  client.on('ping', (received) => {
    if (received) return;
    clearTimeout(pongTimer);
    pongTimer = setTimeout(() => client.terminate(), pongWithinMs);
  });
  client.on('pong', (received) => {
    if (received) clearTimeout(pongTimer);
  });

  return {
    connection,
    onReconnected(listener) {
      reconnectListeners.add(listener);
      return () => reconnectListeners.delete(listener);
    },
    subscribe<TEvent>(sub: LiveSubscription<TEvent>) {
      // graphql-ws sends this same payload object again on every reconnect,
      // so recording the last cursor in it makes each resubscription start
      // right after the last event seen: nothing missed, nothing twice.
      const variables: Record<string, unknown> = { ...sub.variables };
      const payload = { query: sub.query, variables };
      let disposed = false;
      const dispose = client.subscribe<Record<string, TEvent>>(payload, {
        next(result) {
          if (disposed) return;
          // An event with data is delivered even if some field of it
          // failed: dropping it would lose the event for good.
          const events = result.data ? Object.values(result.data).filter((event) => event != null) : [];
          if (events.length === 0) {
            if (result.errors?.length) {
              sub.onError?.(result.errors.map((e) => ({ message: e.message, extensions: e.extensions as GraphQLErrorShape['extensions'] })));
            }
            return;
          }
          if (result.errors?.length) {
            console.info(`meridian board: an event arrived with errors: ${result.errors.map((e) => e.message).join('; ')}`);
          }
          for (const event of events) {
            variables.after = sub.cursorOf(event);
            sub.onEvent(event);
          }
        },
        error(err) {
          if (disposed) return;
          const errors: GraphQLErrorShape[] = Array.isArray(err)
            ? (err as GraphQLErrorShape[])
            : [{ message: err instanceof Error ? err.message : 'the subscription ended' }];
          sub.onError?.(errors);
        },
        complete() {
          // The server ends a subscription only when asked to, or when the
          // socket closes for good (sign-out); nothing to do.
        },
      });
      return {
        dispose() {
          disposed = true;
          dispose();
        },
        cursor() {
          return typeof variables.after === 'string' && variables.after !== '' ? variables.after : null;
        },
      };
    },
    dispose() {
      clearTimeout(pongTimer);
      reconnectListeners.clear();
      // Disposing a socket that never opened rejects; nothing is left to do then.
      Promise.resolve(client.dispose()).catch(() => undefined);
    },
  };
}
