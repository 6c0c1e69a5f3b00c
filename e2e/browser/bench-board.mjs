// The browser side of the benchmark's board part (bench/cmd/bench/board.go
// runs it; it is not meant to be run by hand).
//
// It drives Debian's Chromium through playwright-core (never a downloaded
// browser) and measures, at 1920×1080 signed in as the given token:
//   1. BENCH_BOARD_LOADS cold loads of the board, each in a fresh browser
//      context: window.__meridianBoard.firstRenderAt (performance.now() when
//      the first complete render was done, so from navigation start) and the
//      wall time from page.goto to ready as seen from here;
//   2. the board's frame intervals (requestAnimationFrame deltas in the page)
//      idle, then while the Go driver sends status changes through the
//      gateway: between a "start" and a "stop" line on stdin;
//   3. after the drain, the board's painted[] entries (which version of which
//      site was first drawn when, Date.now() in the page);
//   4. the raw baseline, in the same browser: an empty page's rAF cadence,
//      and a bare page drawing the same points (the board's own MapLibre
//      for the countries, a 2D canvas over it for the points, redrawn whole
//      on every frame with changes: the simplest way; the board redraws
//      only around what changed), no Meridian, idle and with the same
//      number of changes per second made in the page itself.
// Protocol: one JSON object per line on stdout — {"event":"ready"} once the
// loads and the idle window are done, {"event":"collecting"} in answer to
// "start", then {"event":"result", …} after "stop" — or {"event":"error"}.
// Progress goes to stderr.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
import { chromiumArgs } from './chromium.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const boardProject = join(here, '..', '..', 'services', 'board');

const viewport = { width: 1920, height: 1080 };
const tokenKey = 'meridian.token';

function requiredEnv(name) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set (this script is run by the benchmark: scripts/bench.sh -parts board)`);
  }
  return value;
}

function numberEnv(name) {
  const value = Number(requiredEnv(name));
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`${name} must be a non-negative number, not ${process.env[name]}`);
  }
  return value;
}

function readSettings() {
  return {
    url: requiredEnv('BENCH_BOARD_URL'),
    token: requiredEnv('BENCH_BOARD_TOKEN'),
    sites: numberEnv('BENCH_BOARD_SITES'),
    loads: numberEnv('BENCH_BOARD_LOADS'),
    idleMs: numberEnv('BENCH_BOARD_IDLE_MS'),
    loadMs: numberEnv('BENCH_BOARD_LOAD_MS'),
    rate: numberEnv('BENCH_BOARD_RATE'),
    changeSites: numberEnv('BENCH_BOARD_CHANGE_SITES'),
    drainMs: numberEnv('BENCH_BOARD_DRAIN_MS'),
    readyTimeoutMs: numberEnv('BENCH_BOARD_READY_TIMEOUT_MS'),
    pointsFile: requiredEnv('BENCH_BOARD_POINTS'),
    chromium: process.env.MERIDIAN_CHROMIUM || '/usr/bin/chromium',
  };
}

function emit(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function log(message) {
  process.stderr.write(`${message}\n`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Commands from the Go driver, one per stdin line; null once stdin closes. */
function commandReader() {
  const lines = [];
  const waiting = [];
  let closed = false;
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const command = line.trim();
    if (command === '') return;
    const next = waiting.shift();
    if (next) next(command);
    else lines.push(command);
  });
  rl.on('close', () => {
    closed = true;
    for (const next of waiting.splice(0)) next(null);
  });
  return {
    next() {
      if (lines.length > 0) return Promise.resolve(lines.shift());
      if (closed) return Promise.resolve(null);
      return new Promise((resolve) => waiting.push(resolve));
    },
    close() {
      rl.close();
    },
  };
}

async function expectCommand(commands, want) {
  const got = await commands.next();
  if (got !== want) {
    throw new Error(got === null ? `stdin closed while waiting for "${want}"` : `got command "${got}", want "${want}"`);
  }
}

/** Files of the board's own npm project the bare page loads. */
function boardModules() {
  const require = createRequire(join(boardProject, 'package.json'));
  const maplibreDir = dirname(require.resolve('maplibre-gl/package.json'));
  const topojson = require('topojson-client');
  const world = JSON.parse(readFileSync(join(dirname(require.resolve('world-atlas/package.json')), 'countries-110m.json'), 'utf8'));
  return {
    maplibreScript: join(maplibreDir, 'dist', 'maplibre-gl.js'),
    maplibreStyle: join(maplibreDir, 'dist', 'maplibre-gl.css'),
    countries: topojson.feature(world, world.objects.countries),
  };
}

// In-page helpers, passed to page.evaluate (they run in the browser).

/** Starts collecting requestAnimationFrame intervals in the page. */
function startFrames() {
  const frames = { deltas: [], last: 0, on: true };
  window.__benchFrames = frames;
  const tick = (now) => {
    if (!frames.on) return;
    if (frames.last > 0) frames.deltas.push(now - frames.last);
    frames.last = now;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

/** Stops collecting and returns the intervals, in ms. */
function stopFrames() {
  const frames = window.__benchFrames;
  frames.on = false;
  return frames.deltas;
}

async function collectFrames(page, ms) {
  await page.evaluate(startFrames);
  await sleep(ms);
  return page.evaluate(stopFrames);
}

/** Waits for the board's first complete render and reads what it drew. */
async function loadBoard(browser, settings, noteConsole) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  // The token goes into session storage before the board's code runs, as a
  // signed-in session would have it: never in the URL.
  await context.addInitScript(
    ({ key, token, origin }) => {
      if (window.location.origin === origin) window.sessionStorage.setItem(key, token);
    },
    { key: tokenKey, token: settings.token, origin: new URL(settings.url).origin },
  );
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') noteConsole(message.text());
  });
  page.on('pageerror', (error) => noteConsole(`uncaught: ${error.message}`));

  const started = performance.now();
  await page.goto(settings.url, { waitUntil: 'commit' });
  try {
    await page.waitForFunction(() => window.__meridianBoard?.ready === true, null, {
      timeout: settings.readyTimeoutMs,
      polling: 'raf',
    });
  } catch (error) {
    const state = await page
      .evaluate(() => ({
        hook: window.__meridianBoard
          ? {
              ready: window.__meridianBoard.ready,
              connection: window.__meridianBoard.connection,
              siteCount: window.__meridianBoard.siteCount,
            }
          : null,
        signIn: document.querySelector('[data-testid="signin"]') !== null,
        text: document.body ? document.body.innerText.slice(0, 300) : '',
      }))
      .catch((e) => ({ unreadable: String(e) }));
    await context.close();
    throw new Error(`the board was not ready within ${settings.readyTimeoutMs} ms (${error.message.split('\n')[0]}); page state: ${JSON.stringify(state)}`);
  }
  const wallMs = performance.now() - started;
  const drawn = await page.evaluate(() => ({
    firstRenderMs: window.__meridianBoard.firstRenderAt,
    marks: window.__meridianBoard.marks,
    siteCount: window.__meridianBoard.siteCount,
    escalationRows: document.querySelectorAll('[data-testid^="escalation-row-"]').length,
  }));
  return { context, page, load: { ...drawn, wallMs } };
}

/** Builds the bare page's map in the browser: the same points, no Meridian. */
async function setUpBareMap({ points, countries }) {
  const levels = {
    NORMAL: '#3fb950',
    ELEVATED: '#d29922',
    HIGH: '#f0883e',
    CRITICAL: '#f85149',
  };
  const map = new window.maplibregl.Map({
    container: 'map',
    style: {
      version: 8,
      sources: {},
      layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#0b1016' } }],
    },
    center: [15, 20],
    zoom: 1.4,
    attributionControl: false,
    fadeDuration: 0,
  });
  const created = performance.now();
  window.__bareMap = map;
  await new Promise((resolve) => map.once('load', resolve));

  // One icon per level drawn on a canvas, as the board draws its markers
  // (there is no glyph or sprite server offline).
  const size = 20;
  const shapes = {
    NORMAL: (ctx) => ctx.arc(size / 2, size / 2, size / 2 - 2, 0, 2 * Math.PI),
    ELEVATED: (ctx) => ctx.rect(3, 3, size - 6, size - 6),
    HIGH: (ctx) => {
      ctx.moveTo(size / 2, 2);
      ctx.lineTo(size - 2, size - 3);
      ctx.lineTo(2, size - 3);
      ctx.closePath();
    },
    CRITICAL: (ctx) => {
      ctx.moveTo(size / 2, 1);
      ctx.lineTo(size - 1, size / 2);
      ctx.lineTo(size / 2, size - 1);
      ctx.lineTo(1, size / 2);
      ctx.closePath();
    },
  };
  const sprites = {};
  for (const [level, color] of Object.entries(levels)) {
    const canvas = document.createElement('canvas');
    canvas.width = size;
    canvas.height = size;
    const ctx = canvas.getContext('2d');
    ctx.beginPath();
    shapes[level](ctx);
    ctx.fillStyle = color;
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = '#0b1016';
    ctx.stroke();
    sprites[level] = canvas;
  }

  map.addSource('countries', { type: 'geojson', data: countries });
  map.addLayer({ id: 'countries-fill', type: 'fill', source: 'countries', paint: { 'fill-color': '#1c2733' } });
  map.addLayer({ id: 'countries-line', type: 'line', source: 'countries', paint: { 'line-color': '#33414f', 'line-width': 0.6 } });
  await new Promise((resolve) => map.once('idle', resolve));

  // The points on a 2D canvas over the map, as the board draws its sites
  // (services/board/src/map/siteOverlay.ts) but redrawn whole whenever
  // something changed, and without the board around it.
  const overlay = document.createElement('canvas');
  const mapCanvas = map.getCanvas();
  overlay.width = mapCanvas.width;
  overlay.height = mapCanvas.height;
  overlay.style.cssText = `position:absolute;left:0;top:0;width:${mapCanvas.clientWidth}px;height:${mapCanvas.clientHeight}px;pointer-events:none`;
  map.getCanvasContainer().appendChild(overlay);
  const ctx = overlay.getContext('2d');
  const ratio = overlay.width / mapCanvas.clientWidth;
  const markers = new Map(
    points.map((p) => {
      const at = map.project([p.lon, p.lat]);
      return [p.code, { level: p.level, x: Math.round(at.x * ratio) - size / 2, y: Math.round(at.y * ratio) - size / 2 }];
    }),
  );
  const order = ['NORMAL', 'ELEVATED', 'HIGH', 'CRITICAL'];
  const draw = () => {
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    for (const level of order) {
      const sprite = sprites[level];
      for (const marker of markers.values()) if (marker.level === level) ctx.drawImage(sprite, marker.x, marker.y);
    }
  };
  draw();
  const ready = markers.size === points.length;
  const readyMs = performance.now() - created;

  // Changes are stamped when they are made, applied once per animation
  // frame, and counted as drawn when the overlay has been redrawn with
  // them: the way the board stamps painted[].
  const bare = { pending: new Map(), latencies: [], made: 0 };
  window.__bare = bare;
  const flush = () => {
    if (bare.pending.size > 0) {
      const made = [];
      for (const [code, change] of bare.pending) {
        const marker = markers.get(code);
        if (marker) marker.level = change.level;
        made.push(...change.made);
      }
      bare.pending.clear();
      draw();
      const now = Date.now();
      for (const at of made) bare.latencies.push(now - at);
    }
    bare.frame = requestAnimationFrame(flush);
  };
  bare.frame = requestAnimationFrame(flush);
  return { ready, readyMs };
}

/** Makes rate changes a second in the bare page for ms, rotating over sites. */
async function driveBareChanges({ rate, ms, changeSites }) {
  const bare = window.__bare;
  const features = window.__bareSites;
  const rotation = features.filter((f) => f.level === 'NORMAL' || f.level === 'ELEVATED').slice(0, Math.max(1, changeSites));
  let next = 0;
  const started = performance.now();
  await new Promise((resolve) => {
    // Catch up from the clock on every tick, as paced network arrivals would.
    const timer = setInterval(() => {
      const elapsed = performance.now() - started;
      const due = Math.min(Math.floor((elapsed * rate) / 1000), Math.floor((ms * rate) / 1000));
      while (bare.made < due) {
        const site = rotation[next % rotation.length];
        next += 1;
        site.level = site.level === 'NORMAL' ? 'ELEVATED' : 'NORMAL';
        site.version += 1;
        const change = bare.pending.get(site.code) ?? { made: [] };
        change.level = site.level;
        change.version = site.version;
        change.made.push(Date.now());
        bare.pending.set(site.code, change);
        bare.made += 1;
      }
      if (elapsed >= ms) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
}

async function runBare(browser, settings, points, modules) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));

    await page.setContent('<!doctype html><html><head><style>html,body,#map{margin:0;width:100%;height:100%;background:#0b1016}</style></head><body><div id="map"></div></body></html>');
    log(`bare: empty page rAF for ${settings.idleMs} ms`);
    const emptyFrames = await collectFrames(page, settings.idleMs);

    await page.addStyleTag({ path: modules.maplibreStyle });
    await page.addScriptTag({ path: modules.maplibreScript });
    log(`bare: MapLibre with ${points.length} points`);
    const { ready, readyMs } = await page.evaluate(setUpBareMap, {
      points,
      countries: modules.countries,
    });
    if (errors.length > 0) throw new Error(`the bare MapLibre page failed: ${errors[0]}`);
    await page.evaluate((sites) => {
      window.__bareSites = sites.map((p) => ({ code: p.code, level: p.level, version: 0 }));
    }, points);

    log(`bare: idle frames for ${settings.idleMs} ms`);
    const idleFrames = await collectFrames(page, settings.idleMs);

    log(`bare: ${settings.rate} changes/s in the page for ${settings.loadMs} ms`);
    await page.evaluate(startFrames);
    await page.evaluate(driveBareChanges, { rate: settings.rate, ms: settings.loadMs, changeSites: settings.changeSites });
    const loadFrames = await page.evaluate(stopFrames);
    await sleep(settings.drainMs);
    const { changes, latencies } = await page.evaluate(() => ({ changes: window.__bare.made, latencies: window.__bare.latencies }));
    if (errors.length > 0) throw new Error(`the bare MapLibre page failed: ${errors[0]}`);
    return { emptyFrames, readyMs, readyTimeout: !ready, idleFrames, loadFrames, changes, latenciesMs: latencies };
  } finally {
    await context.close();
  }
}

async function main() {
  const settings = readSettings();
  const points = JSON.parse(readFileSync(settings.pointsFile, 'utf8'));
  const modules = boardModules();
  const commands = commandReader();

  const browser = await chromium.launch({ executablePath: settings.chromium, headless: true, args: chromiumArgs });
  try {
    const consoleErrors = [];
    let consoleErrorCount = 0;
    const noteConsole = (text) => {
      consoleErrorCount += 1;
      if (consoleErrors.length < 10) consoleErrors.push(text.slice(0, 300));
    };

    const loads = [];
    let board = null;
    for (let i = 0; i < settings.loads; i++) {
      if (board) await board.context.close();
      board = await loadBoard(browser, settings, noteConsole);
      loads.push(board.load);
      log(`load ${i + 1}/${settings.loads}: first complete render ${board.load.firstRenderMs.toFixed(1)} ms, goto → ready ${board.load.wallMs.toFixed(1)} ms, ${board.load.siteCount} sites, ${board.load.escalationRows} escalation rows; done at (ms): ${Object.entries(board.load.marks).sort((a, b) => a[1] - b[1]).map(([name, at]) => `${name} ${at.toFixed(0)}`).join(', ')}`);
    }
    const { page } = board;

    log(`board: idle frames for ${settings.idleMs} ms`);
    const idleFrames = await collectFrames(page, settings.idleMs);
    emit({ event: 'ready', chromium: browser.version() });

    await expectCommand(commands, 'start');
    await page.evaluate(startFrames);
    emit({ event: 'collecting' });
    await expectCommand(commands, 'stop');
    const loadFrames = await page.evaluate(stopFrames);
    log(`board: ${loadFrames.length} frames in the load window; draining ${settings.drainMs} ms`);
    await sleep(settings.drainMs);
    const { painted, connection, overlayPixelsOff } = await page.evaluate(() => ({
      painted: window.__meridianBoard.painted.map((p) => ({ code: p.code, version: p.version, at: p.at })),
      connection: window.__meridianBoard.connection,
      // After the drain, once everything is measured: reading the canvas
      // back changes how Chromium keeps it.
      overlayPixelsOff: window.__meridianBoard.overlayPixelsOff(),
    }));
    await board.context.close();

    const bare = await runBare(browser, settings, points, modules);
    emit({
      event: 'result',
      chromium: browser.version(),
      loads,
      consoleErrorCount,
      consoleErrors,
      board: { idleFrames, loadFrames, painted, connection, overlayPixelsOff },
      bare,
    });
  } finally {
    commands.close();
    await browser.close();
  }
}

main().catch((error) => {
  emit({ event: 'error', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 1;
});
