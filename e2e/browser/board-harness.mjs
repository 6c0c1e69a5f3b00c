// The machinery of the board's end-to-end test (board.e2e.mjs): Chromium
// through playwright-core, named steps that report what they expected and
// saw, the board's test hook, the GraphQL API as another client sees it,
// the console of every page, and the control channel to the Go test that
// owns the stack (services/gateway/server/board_browser_test.go).
//
// Output protocol on stdout, one line each, read by the Go test:
//   STEP <name> start | STEP <name> ok <ms> ms
//   MEASURE <name> <value> <unit>
//   CONTROL <request>            (Go answers "OK <detail>" or "ERR <why>" on stdin)
//   FAIL <step>: expected …; seen …
// Everything else is commentary.

import { chromium } from 'playwright-core';
import { chromiumArgs } from './chromium.mjs';
import { createInterface } from 'node:readline';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';

export function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`environment variable ${name} is not set (the Go test BoardBrowser sets it)`);
  }
  return value;
}

export function say(line) {
  process.stdout.write(`${line}\n`);
}

/** A check that did not hold: what the step expected and what it saw. */
export class Mismatch extends Error {
  constructor(expected, seen) {
    super(`expected ${expected}; seen ${seen}`);
    this.expected = expected;
    this.seen = seen;
  }
}

export function check(condition, expected, seen) {
  if (!condition) {
    throw new Mismatch(expected, typeof seen === 'function' ? seen() : seen);
  }
}

/** Waits, in Node, until probe() returns a value other than undefined. */
export async function eventually(probe, { timeoutMs, intervalMs = 100, expected, seen }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Mismatch(`${expected} within ${timeoutMs} ms`, await seen());
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

// ---- the control channel to the Go test -------------------------------

const goAnswers = [];
const goWaiters = [];
const stdinLines = createInterface({ input: process.stdin });
stdinLines.on('line', (line) => {
  const waiter = goWaiters.shift();
  if (waiter) {
    waiter(line);
  } else {
    goAnswers.push(line);
  }
});

/**
 * Asks the Go test to do something to the stack only it can do (stop or
 * start the gateway) and returns the detail of its "OK <detail>" answer.
 */
export async function askGo(request, timeoutMs = 60_000) {
  say(`CONTROL ${request}`);
  const answer = goAnswers.shift() ?? (await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the Go test did not answer "${request}" within ${timeoutMs} ms`)), timeoutMs);
    goWaiters.push((line) => {
      clearTimeout(timer);
      resolve(line);
    });
  }));
  if (!answer.startsWith('OK')) {
    throw new Error(`the Go test refused "${request}": ${answer}`);
  }
  return answer.slice(2).trim();
}

// ---- the API, as another client -------------------------------------

/** Posts a GraphQL document to base's /graphql; throws on any error. */
export async function graphql(base, token, query, variables = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`POST ${base}/graphql answered HTTP ${response.status} with non-JSON: ${text.slice(0, 300)}`);
  }
  if (!response.ok || body.errors?.length) {
    throw new Error(`POST ${base}/graphql answered HTTP ${response.status}: ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

// ---- the browser ------------------------------------------------------

export class Board {
  constructor({ baseUrl, chromiumPath, screenshotDir }) {
    this.baseUrl = baseUrl;
    this.chromiumPath = chromiumPath;
    this.screenshotDir = screenshotDir;
    /** Console errors and warnings and uncaught exceptions of every page. */
    this.consoleEntries = [];
    /** The page a failing step screenshots. */
    this.currentPage = null;
    this.browser = null;
    /** A blank page that decodes screenshots (pictureStats). */
    this.lab = null;
  }

  async start() {
    await mkdir(this.screenshotDir, { recursive: true });
    // A failed earlier run's pictures must not pass for this run's.
    for (const name of await readdir(this.screenshotDir)) {
      if (name.endsWith('.png')) {
        await unlink(path.join(this.screenshotDir, name));
      }
    }
    this.browser = await chromium.launch({ executablePath: this.chromiumPath, headless: true, args: chromiumArgs });
    say(`chromium ${this.browser.version()} at ${this.chromiumPath}`);
  }

  async close() {
    await this.browser?.close();
  }

  /** A fresh context (its own session storage) and page, its console watched. */
  async newPage(label, viewport = { width: 1280, height: 800 }) {
    const context = await this.browser.newContext({ viewport, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.on('console', (message) => {
      const type = message.type();
      if (type === 'error' || type === 'warning') {
        this.consoleEntries.push({ page: label, type, text: message.text(), url: message.location().url, at: Date.now() });
      }
    });
    page.on('pageerror', (error) => {
      this.consoleEntries.push({ page: label, type: 'pageerror', text: String(error?.stack ?? error), url: '', at: Date.now() });
    });
    page.setDefaultTimeout(15_000);
    this.currentPage = page;
    return page;
  }

  /**
   * Colour statistics of a PNG (a screenshot), decoded by Chromium in a
   * blank page of its own: the board's pages are not disturbed, and Node
   * needs no image library.
   */
  async pictureStats(png) {
    if (!this.lab || this.lab.isClosed()) {
      this.lab = await this.browser.newPage();
    }
    return this.lab.evaluate(async (base64) => {
      const image = new Image();
      image.src = `data:image/png;base64,${base64}`;
      await image.decode();
      const canvas = document.createElement('canvas');
      canvas.width = image.width;
      canvas.height = image.height;
      const context = canvas.getContext('2d');
      context.drawImage(image, 0, 0);
      const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
      const counts = new Map();
      let pixels = 0;
      for (let i = 0; i < data.length; i += 4) {
        const colour = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        counts.set(colour, (counts.get(colour) ?? 0) + 1);
        pixels++;
      }
      const dominant = Math.max(...counts.values());
      return { pixels, colours: counts.size, dominantShare: Number((dominant / pixels).toFixed(3)) };
    }, png.toString('base64'));
  }

  async screenshot(page, name) {
    const file = path.join(this.screenshotDir, name);
    await page.screenshot({ path: file });
    say(`screenshot ${file}`);
    return file;
  }

  /**
   * Runs one named step. On failure it prints which step, what was
   * expected and what was seen, screenshots the current page as
   * failure-<step>.png and rethrows, so that the run stops there.
   */
  async step(name, body) {
    say(`STEP ${name} start`);
    const started = Date.now();
    try {
      const result = await body();
      say(`STEP ${name} ok ${Date.now() - started} ms`);
      return result;
    } catch (error) {
      const what = error instanceof Mismatch ? error.message : `expected the step to run; seen ${error?.stack ?? error}`;
      say(`FAIL ${name}: ${what}`);
      if (this.currentPage && !this.currentPage.isClosed()) {
        try {
          await this.screenshot(this.currentPage, `failure-${name}.png`);
        } catch (shotError) {
          say(`could not screenshot the failure: ${shotError}`);
        }
      }
      error.reported = true;
      throw error;
    }
  }
}

// ---- the board's test hook (window.__meridianBoard) -------------------

export async function waitReady(page, timeoutMs = 30_000) {
  try {
    await page.waitForFunction(() => window.__meridianBoard?.ready === true, null, { timeout: timeoutMs, polling: 50 });
  } catch {
    const hook = await page.evaluate(() => {
      const b = window.__meridianBoard;
      return b ? { ready: b.ready, connection: b.connection, siteCount: b.siteCount } : null;
    });
    throw new Mismatch(`window.__meridianBoard.ready within ${timeoutMs} ms`, `hook ${JSON.stringify(hook)}`);
  }
}

export function renderedSite(page, code) {
  return page.evaluate((siteCode) => window.__meridianBoard.renderedSite(siteCode), code);
}

export function hookState(page) {
  return page.evaluate(() => {
    const b = window.__meridianBoard;
    return { ready: b.ready, connection: b.connection, siteCount: b.siteCount };
  });
}

/**
 * Starts polling window.__meridianBoard[reader](code) every 20 ms inside
 * the page (no round trip to Node delays it) until it matches want or
 * limitMs passes; returns a function awaiting {at: Date.now() when first
 * matched, or null; rendered: the last value read}. An object want matches
 * a drawn site: level and posture equal where given, version at least;
 * anything else must be equal.
 */
async function watchInPage(page, reader, code, want, limitMs) {
  const key = `__e2eWatch_${reader}_${code}_${Date.now()}`;
  await page.evaluate(
    ({ slot, readerName, target, wanted, limit }) => {
      const matches = (r) => (typeof wanted !== 'object'
        ? r === wanted
        : r !== null
          && (wanted.level === undefined || r.level === wanted.level)
          && (wanted.posture === undefined || r.posture === wanted.posture)
          && (wanted.version === undefined || r.version >= wanted.version));
      window[slot] = new Promise((resolve) => {
        const started = Date.now();
        const timer = setInterval(() => {
          const rendered = window.__meridianBoard[readerName](target);
          if (matches(rendered)) {
            clearInterval(timer);
            resolve({ at: Date.now(), rendered });
          } else if (Date.now() - started > limit) {
            clearInterval(timer);
            resolve({ at: null, rendered });
          }
        }, 20);
      });
    },
    { slot: key, readerName: reader, target: code, wanted: want, limit: limitMs },
  );
  return () => page.evaluate((slot) => window[slot], key);
}

/** watchInPage on renderedSite(code): wanted is {level?, posture?, version?}. */
export function watchRendered(page, code, wanted, limitMs) {
  return watchInPage(page, 'renderedSite', code, wanted, limitMs);
}

/** watchInPage on renderedCountryLevel(code): the country shaded at level. */
export function watchCountryLevel(page, code, level, limitMs) {
  return watchInPage(page, 'renderedCountryLevel', code, level, limitMs);
}

/** renderedCountryLevel(code) for each code, as {code: level}. */
export function renderedCountryLevels(page, codes) {
  return page.evaluate((list) => Object.fromEntries(list.map((code) => [code, window.__meridianBoard.renderedCountryLevel(code)])), codes);
}

export async function signInWithPersona(page, baseUrl, subject) {
  await page.goto(baseUrl);
  await page.getByTestId('signin').waitFor({ state: 'visible' });
  await page.getByTestId(`persona-${subject}`).click();
  await waitReady(page);
}

export async function signInWithToken(page, baseUrl, token) {
  await page.goto(baseUrl);
  await page.getByTestId('signin').waitFor({ state: 'visible' });
  await page.getByTestId('token-input').fill(token);
  await page.getByTestId('token-submit').click();
  await waitReady(page);
}
