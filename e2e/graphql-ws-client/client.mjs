// Reference client: the graphql-ws npm package, as browsers and most
// JavaScript apps use it, subscribed to Meridian's siteStatusChanged, or to
// any subscription given as a document.
//
//   node client.mjs <url> <token> <n> [--after=<cursor>] [--region=<code>] [--timeout=<seconds>]
//                   [--document=<subscription document> --variables=<JSON object>]
//
// It prints each event it receives as one JSON line on stdout and exits 0
// after <n> events; it exits 1 (with the reason on stderr) on a connection
// or GraphQL error, when the server completes the subscription early, or when
// <n> events have not arrived within the timeout (default 30 s).
//
// The gateway's Go test (services/gateway/server/refclient_test.go) runs it;
// `make test` installs its node_modules with `npm ci`.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const usage = 'usage: node client.mjs <url> <token> <n> [--after=<cursor>] [--region=<code>] [--timeout=<seconds>] [--document=<subscription> --variables=<json>]';

function fail(message) {
  process.stderr.write(`graphql-ws-client: ${message}\n`);
  process.exit(1);
}

const positional = [];
const flags = {};
for (const arg of process.argv.slice(2)) {
  const m = /^--([a-z]+)=(.*)$/.exec(arg);
  if (m) flags[m[1]] = m[2];
  else positional.push(arg);
}
if (positional.length !== 3) fail(usage);
const [url, token, countArg] = positional;
const want = Number.parseInt(countArg, 10);
if (!Number.isInteger(want) || want < 1) fail(`<n> must be a positive integer, got ${JSON.stringify(countArg)}\n${usage}`);
const timeoutSeconds = flags.timeout === undefined ? 30 : Number(flags.timeout);
if (!(timeoutSeconds > 0)) fail(`--timeout must be a positive number of seconds\n${usage}`);

const boardQuery = `subscription Board($region: String, $after: String) {
  siteStatusChanged(region: $region, after: $after) {
    cursor
    site { id code region { code } }
    previous { level posture version }
    current { level posture note version updatedBy }
  }
}`;
const query = flags.document || boardQuery;
let variables = {};
if (flags.variables) {
  try {
    variables = JSON.parse(flags.variables);
  } catch (err) {
    fail(`--variables is not JSON: ${err.message}`);
  }
}
if (flags.region) variables.region = flags.region;
if (flags.after) variables.after = flags.after;

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  lazy: true,
  retryAttempts: 0, // a reference run reports the first failure, it does not hide it
});

let received = 0;
let finished = false;

async function finish(code, message) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  if (message) process.stderr.write(`graphql-ws-client: ${message}\n`);
  try {
    await client.dispose();
  } finally {
    process.exit(code);
  }
}

const timer = setTimeout(() => {
  finish(1, `timed out after ${timeoutSeconds}s with ${received} of ${want} events`);
}, timeoutSeconds * 1000);

function describe(err) {
  if (Array.isArray(err)) return `GraphQL errors: ${JSON.stringify(err)}`;
  // A CloseEvent from the WebSocket: code and reason say why.
  if (err && typeof err === 'object' && 'code' in err) return `connection closed: ${err.code} ${err.reason || ''}`.trim();
  if (err instanceof Error) return err.message;
  return String(err);
}

client.subscribe(
  { query, variables },
  {
    next(result) {
      if (result.errors && result.errors.length > 0) {
        finish(1, `GraphQL errors: ${JSON.stringify(result.errors)}`);
        return;
      }
      // One line per event: the subscription's root field's value.
      const [field] = Object.keys(result.data);
      process.stdout.write(`${JSON.stringify(result.data[field])}\n`);
      received++;
      if (received >= want) finish(0);
    },
    error(err) {
      finish(1, describe(err));
    },
    complete() {
      if (received < want) finish(1, `subscription completed after ${received} of ${want} events`);
    },
  },
);
