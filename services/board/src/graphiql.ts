// GraphiQL, bundled and served by the gateway so it works with no internet.
// Written without JSX: the board's JSX compiles for Preact, this page is React.
import 'graphiql/graphiql.css';
import './graphiql.css';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher, type Fetcher, type FetcherOpts } from '@graphiql/toolkit';
import { GraphQLError } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { readStoredToken } from './session';

const placeholder = '<paste a token printed by `make tokens`>';

const defaultHeaders = (() => {
  const token = readStoredToken();
  return JSON.stringify({ Authorization: `Bearer ${token ?? placeholder}` }, null, 2);
})();

function socketURL(): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/graphql`;
}

// The toolkit sends queries over HTTP with the headers from GraphiQL's
// headers tab, but a WebSocket is opened once with fixed connectionParams.
// Keep one fetcher (and socket) per distinct headers object, so editing the
// Authorization header in the tab also changes who subscriptions run as.
let current: { key: string; fetcher: Fetcher; socket: Client } | undefined;

function fetcherFor(headers: Record<string, string>): Fetcher {
  const key = JSON.stringify(headers);
  if (current?.key === key) return current.fetcher;
  void current?.socket.dispose();
  const socket = createClient({ url: socketURL(), connectionParams: headers, lazy: true });
  const fetcher = createGraphiQLFetcher({ url: '/graphql', wsClient: socket });
  current = { key, fetcher, socket };
  return fetcher;
}

function headersOf(opts: FetcherOpts | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(opts?.headers ?? {})) {
    if (typeof value === 'string') out[name] = value;
  }
  return out;
}

// Until a token is pasted, answer here instead of sending the placeholder:
// the gateway would refuse it with a 401, which the browser logs as an
// error, and GraphiQL's schema request would fail without saying why.
const fetcher: Fetcher = (params, opts) => {
  const headers = headersOf(opts);
  if (Object.values(headers).some((value) => value.includes(placeholder))) {
    return Promise.resolve({
      errors: [new GraphQLError('No token yet: paste a bearer token (from `make tokens`, or sign in on the board first) in the Headers tab, then run again.')],
    });
  }
  return fetcherFor(headers)(params, opts);
};

const host = document.getElementById('graphiql');
if (!host) throw new Error('graphiql.html lacks #graphiql');
createRoot(host).render(
  createElement(GraphiQL, {
    fetcher,
    defaultHeaders,
    defaultEditorToolsVisibility: 'headers',
    shouldPersistHeaders: false,
  }),
);
