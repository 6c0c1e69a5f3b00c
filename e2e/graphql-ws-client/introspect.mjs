// Reference introspection: what GraphiQL, Apollo, graphql-codegen and Altair
// do first. graphql-js's own getIntrospectionQuery() is sent to the gateway,
// the answer is built into a client schema with buildClientSchema and
// checked with assertValidSchema.
//
//   node introspect.mjs <url> <token> [--sdl=<dir>]
//
// With --sdl it also builds the schema from the SDL files in <dir>
// (schema/graphql/*.graphql, in name order, as the gateway reads them) with
// buildSchema, and requires both to print the same: the files are standard
// SDL, and the gateway serves exactly what they say.
//
// It prints one JSON line with what it found and exits 0, or exits 1 with
// the reason on stderr. services/gateway/server/introspection_test.go runs it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertValidSchema,
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';

function fail(message) {
  process.stderr.write(`introspect: ${message}\n`);
  process.exit(1);
}

const positional = [];
const flags = {};
for (const arg of process.argv.slice(2)) {
  const m = /^--([a-z]+)=(.*)$/.exec(arg);
  if (m) flags[m[1]] = m[2];
  else positional.push(arg);
}
if (positional.length !== 2) fail('usage: node introspect.mjs <url> <token> [--sdl=<dir>]');
const [url, token] = positional;

async function introspect(options) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: getIntrospectionQuery(options), operationName: 'IntrospectionQuery' }),
  });
  const body = await res.json().catch((e) => fail(`HTTP ${res.status}: not JSON: ${e}`));
  if (res.status !== 200 || body.errors) fail(`HTTP ${res.status}: ${JSON.stringify(body.errors ?? body)}`);
  const schema = buildClientSchema(body.data);
  assertValidSchema(schema);
  return schema;
}

// The query as graphql-js writes it by default, and as GraphiQL 3 asks for
// it (deprecated input values too).
const plain = await introspect();
const graphiql = await introspect({ inputValueDeprecation: true });

const served = printSchema(lexicographicSortSchema(plain));
if (printSchema(lexicographicSortSchema(graphiql)) !== served) fail('the two introspection queries describe different schemas');

const out = {
  types: Object.keys(plain.getTypeMap()).filter((n) => !n.startsWith('__')).length,
  queryFields: Object.keys(plain.getQueryType().getFields()).length,
  mutationFields: Object.keys(plain.getMutationType()?.getFields() ?? {}).length,
  subscriptionFields: Object.keys(plain.getSubscriptionType()?.getFields() ?? {}).length,
};

if (flags.sdl) {
  const files = readdirSync(flags.sdl).filter((f) => f.endsWith('.graphql')).sort();
  const sdl = files.map((f) => readFileSync(join(flags.sdl, f), 'utf8')).join('\n');
  let fromFiles;
  try {
    fromFiles = buildSchema(sdl);
    assertValidSchema(fromFiles);
  } catch (e) {
    fail(`the SDL files are not a valid schema for graphql-js: ${e.message}`);
  }
  const written = printSchema(lexicographicSortSchema(fromFiles));
  if (written !== served) {
    const a = written.split('\n');
    const b = served.split('\n');
    const i = a.findIndex((line, n) => line !== b[n]);
    fail(`the gateway serves a different schema than the SDL files say; first difference at line ${i + 1}:\n  files:  ${a[i]}\n  served: ${b[i]}`);
  }
  out.sdlFiles = files.length;
}
process.stdout.write(JSON.stringify(out) + '\n');
