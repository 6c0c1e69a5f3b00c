// The board's end-to-end test in headless Chromium, against a real stack
// (gateway, worker, PostgreSQL, Redis, Temporal) that the Go test
// BoardBrowser (services/gateway/server/board_browser_test.go) starts and
// restarts on request. Run it through `go test`, not by hand: the Go test
// sets the environment and answers the CONTROL requests.
//
// Environment: BOARD_URL (the gateway's base URL), TOKEN_EMEA_MANAGER,
// TOKEN_APAC_MANAGER, TOKEN_GLOBAL_LEAD (demo personas' bearer tokens),
// SEEDED_SITES (JSON [{code, region}] of the demo sites), SCREENSHOT_DIR,
// CHROMIUM (default /usr/bin/chromium).

import {
  Board, Mismatch, askGo, check, eventually, graphql, hookState, renderedSite, requireEnv, say,
  signInWithPersona, signInWithToken, waitReady, watchRendered,
} from './board-harness.mjs';

const baseUrl = requireEnv('BOARD_URL').replace(/\/$/, '');
const tokens = {
  emea: requireEnv('TOKEN_EMEA_MANAGER'),
  apac: requireEnv('TOKEN_APAC_MANAGER'),
  lead: requireEnv('TOKEN_GLOBAL_LEAD'),
};
const seededSites = JSON.parse(requireEnv('SEEDED_SITES'));
const board = new Board({
  baseUrl,
  chromiumPath: process.env.CHROMIUM || '/usr/bin/chromium',
  screenshotDir: requireEnv('SCREENSHOT_DIR'),
});

// Limits of the checks. Only CHANGE_TO_PIXEL_LIMIT_MS is a requirement of
// the issue (a change through the API turns the marker within 1 s); the
// others bound waits for "within a few seconds".
const CHANGE_TO_PIXEL_LIMIT_MS = 1000;
const ESCALATION_ROW_LIMIT_MS = 10_000;
const BANNER_LIMIT_MS = 10_000;
const RECONNECT_LIMIT_MS = 10_000;

const SITES_QUERY = `{ sites(first: 500) { edges { node {
  id code region { code } status { level posture version } } } } }`;

const UPDATE_STATUS = `mutation($input: UpdateSiteStatusInput!) {
  updateSiteStatus(input: $input) {
    site { code status { level posture version } }
    escalation { id }
  }
}`;

const OPEN_ESCALATIONS = `query($region: String) {
  escalations(region: $region, status: OPEN, first: 50) { edges { node { id status site { code } } } }
}`;

const ESCALATION = `query($id: ID!) { escalation(id: $id) { id status acknowledgedBy disposition } }`;

async function listSites(base, token) {
  const data = await graphql(base, token, SITES_QUERY);
  return data.sites.edges.map((edge) => edge.node);
}

async function siteByCode(base, token, code) {
  const site = (await listSites(base, token)).find((s) => s.code === code);
  if (!site) {
    throw new Mismatch(`site ${code} in the API's list`, 'it is missing');
  }
  return site;
}

/** Changes a site's status through the API, as another client would. */
async function changeStatus(base, token, code, level, posture, note) {
  const site = await siteByCode(base, token, code);
  const data = await graphql(base, token, UPDATE_STATUS, {
    input: { siteId: site.id, level, posture, note, expectedVersion: site.status.version },
  });
  const respondedAt = Date.now();
  const status = data.updateSiteStatus.site.status;
  check(status.level === level && status.posture === posture, `${code} ${level}/${posture} after the change`,
    `${status.level}/${status.posture}`);
  return { respondedAt, version: status.version, escalation: data.updateSiteStatus.escalation };
}

/**
 * Waits until the map shows a picture, as a screenshot sees it: in the top
 * half of the map (above the legend), no single colour covers 90% of the
 * pixels, as the bare background does before the first frame is presented.
 * A WebGL frame can be drawn before it reaches the screen, and its canvas
 * cannot be read back (its buffer is not preserved), so the screenshot is
 * what is measured.
 */
async function mapPresented(page, timeoutMs = 10_000) {
  const sample = async () => {
    const box = await page.getByTestId('map').boundingBox();
    if (!box || box.width < 10 || box.height < 10) return { box };
    const png = await page.screenshot({ clip: { x: box.x, y: box.y, width: box.width, height: box.height / 2 } });
    return board.pictureStats(png);
  };
  return eventually(async () => {
    const stats = await sample();
    return stats.dominantShare !== undefined && stats.dominantShare < 0.9 ? stats : undefined;
  }, {
    timeoutMs,
    intervalMs: 200,
    expected: 'the map to show a picture (no colour covering 90% of its top half)',
    seen: async () => JSON.stringify(await sample()),
  });
}

async function testIds(page, prefix) {
  return page.$$eval(`[data-testid^="${prefix}"]`, (elements) => elements.map((e) => e.getAttribute('data-testid')));
}

// Console messages that are not faults of the board, each named with why.
// Every other error, in any page, at any time, fails the run (step 6).
let gatewayDown = null; // {from, until} while step 5 has the gateway stopped
const gatewayHost = new URL(baseUrl).host;
const tolerated = [
  {
    why: 'Chromium itself logs each refused WebSocket reconnection attempt while step 5 has stopped the gateway',
    matches: (entry) => entry.type === 'error'
      && entry.text.startsWith(`WebSocket connection to 'ws://${gatewayHost}/graphql' failed:`),
  },
];
function toleratedBecause(entry) {
  const span = gatewayDown;
  if (!span || entry.at < span.from || entry.at > (span.until ?? Infinity)) {
    return null;
  }
  return tolerated.find((rule) => rule.matches(entry))?.why ?? null;
}

async function main() {
  const runStarted = Date.now();
  await board.start();

  // The EMEA, NORMAL/OPEN sites that steps 2, 3 and 5 change, one each, so
  // that no step sees another's change.
  const apiSites = await listSites(baseUrl, tokens.emea);
  const quietEMEA = apiSites
    .filter((s) => s.region.code === 'EMEA' && s.status.level === 'NORMAL' && s.status.posture === 'OPEN')
    .map((s) => s.code)
    .sort();
  if (quietEMEA.length < 3) {
    throw new Error(`the demo data has ${quietEMEA.length} EMEA sites at NORMAL/OPEN; the test needs 3`);
  }
  const [liveSite, boardSite, awaySite] = quietEMEA;
  const apacSite = apiSites.filter((s) => s.region.code === 'APAC').map((s) => s.code).sort()[0];
  say(`sites: API change ${liveSite}, board change ${boardSite}, change while away ${awaySite}, APAC ${apacSite}`);

  // ---- 1. EMEA manager, through the persona picker ----
  const emea = await board.newPage('emea');
  let pageMarker;
  await board.step('1-emea-map-shows-every-site', async () => {
    await signInWithPersona(emea, baseUrl, 'rm-emea-emil');
    // A marker that only survives if the page is never reloaded (step 5).
    pageMarker = await emea.evaluate(() => {
      window.__e2ePageMarker = `e2e-${Math.random()}`;
      return { marker: window.__e2ePageMarker, timeOrigin: performance.timeOrigin };
    });

    const seededCodes = seededSites.map((s) => s.code).sort();
    const listedCodes = apiSites.map((s) => s.code).sort();
    check(JSON.stringify(listedCodes) === JSON.stringify(seededCodes),
      `the API to list the ${seededCodes.length} seeded sites for rm-emea-emil`, `${listedCodes.length}: ${listedCodes.join(' ')}`);
    const hook = await hookState(emea);
    check(hook.siteCount === apiSites.length, `__meridianBoard.siteCount = ${apiSites.length}`, hook.siteCount);

    // Every site drawn, each at the level and posture the API gives it.
    const drawnWrong = async () => {
      const drawn = await emea.evaluate((codes) => codes.map((code) => [code, window.__meridianBoard.renderedSite(code)]), seededCodes);
      return drawn.filter(([code, r]) => {
        const api = apiSites.find((site) => site.code === code);
        return r === null || r.level !== api.status.level || r.posture !== api.status.posture;
      }).map(([code, r]) => `${code}=${JSON.stringify(r)}`);
    };
    await eventually(async () => ((await drawnWrong()).length === 0 ? true : undefined), {
      timeoutMs: 10_000,
      expected: 'renderedSite(code) at the API\'s level and posture for every seeded site',
      seen: async () => `wrong or missing: ${(await drawnWrong()).join(', ')}`,
    });
    // ready says the map drew; the screenshot must show it too.
    const picture = await mapPresented(emea);
    say(`map picture (top half): ${JSON.stringify(picture)}`);
    await board.screenshot(emea, 'map-emea.png');
  });

  // ---- 2. A change through the API reaches the marker within 1 s ----
  await board.step('2-api-change-turns-marker', async () => {
    const before = await renderedSite(emea, liveSite);
    check(before?.level === 'NORMAL', `${liveSite} drawn NORMAL before the change`, JSON.stringify(before));
    // The poll starts before the mutation is sent, so nothing it draws is missed.
    const seen = await watchRendered(emea, liveSite, { level: 'ELEVATED', posture: 'OPEN' }, 5000);
    const change = await changeStatus(baseUrl, tokens.lead, liveSite, 'ELEVATED', 'OPEN', 'e2e: crowd gathering outside');
    const result = await seen();
    check(result.at !== null, `${liveSite} drawn ELEVATED/OPEN`, `after 5 s it is drawn ${JSON.stringify(result.rendered)}`);
    const ms = result.at - change.respondedAt;
    // The poll sees the map's tiles change; painted records the animation
    // frame that then drew them, which must be within the budget too.
    const painted = await emea.evaluate(
      ({ code, version }) => new Promise((resolve) => {
        const started = Date.now();
        const look = () => {
          const entry = window.__meridianBoard.painted.find((p) => p.code === code && p.version === version);
          if (entry || Date.now() - started > 2000) resolve(entry?.at ?? null);
          else requestAnimationFrame(look);
        };
        look();
      }),
      { code: liveSite, version: change.version },
    );
    say(`MEASURE change-to-pixel-poll ${ms} ms`);
    check(result.rendered.version === change.version, `version ${change.version} drawn`, result.rendered.version);
    check(ms <= CHANGE_TO_PIXEL_LIMIT_MS, `the marker turned within ${CHANGE_TO_PIXEL_LIMIT_MS} ms of the mutation's response`, `${ms} ms`);
    check(painted !== null, `__meridianBoard.painted to record ${liveSite} v${change.version}`, 'no entry');
    const frameMs = painted - change.respondedAt;
    say(`MEASURE change-to-pixel-frame ${frameMs} ms`);
    check(frameMs <= CHANGE_TO_PIXEL_LIMIT_MS, `the frame drawing it within ${CHANGE_TO_PIXEL_LIMIT_MS} ms of the mutation's response`, `${frameMs} ms`);
  });

  // ---- 3. A change from the board opens an escalation; acknowledge it ----
  let escalationId;
  await board.step('3-board-status-change-opens-escalation', async () => {
    const rowsBefore = new Set(await testIds(emea, 'escalation-row-'));
    await emea.getByTestId(`site-row-${boardSite}`).click();
    const panel = emea.getByTestId('site-panel');
    await panel.waitFor({ state: 'visible' });
    const form = panel.getByTestId('status-form');
    await form.waitFor({ state: 'visible' });
    // CRITICAL is SEV1: site.Status.Escalates pages people for it.
    await form.getByTestId('status-level').selectOption('CRITICAL');
    await form.getByTestId('status-posture').selectOption('LOCKDOWN');
    await form.getByTestId('status-note').fill('e2e: intruder on the premises');
    await board.screenshot(emea, 'site-panel.png');
    const submittedAt = Date.now();
    await form.getByTestId('status-submit').click();

    const opened = await eventually(async () => {
      const data = await graphql(baseUrl, tokens.emea, OPEN_ESCALATIONS, { region: 'EMEA' });
      return data.escalations.edges.map((e) => e.node).find((e) => e.site?.code === boardSite);
    }, {
      timeoutMs: ESCALATION_ROW_LIMIT_MS,
      expected: `an OPEN escalation for ${boardSite} in the API`,
      seen: async () => `site panel says ${await panel.innerText()}`,
    });
    escalationId = opened.id;
    check(!rowsBefore.has(`escalation-row-${escalationId}`), 'the escalation to be new', 'its row was there before the change');
    const row = emea.getByTestId('escalations-panel').getByTestId(`escalation-row-${escalationId}`);
    try {
      await row.waitFor({ state: 'visible', timeout: ESCALATION_ROW_LIMIT_MS });
    } catch {
      throw new Mismatch(`escalation-row-${escalationId} in escalations-panel within ${ESCALATION_ROW_LIMIT_MS} ms of submitting`,
        `rows ${JSON.stringify(await testIds(emea, 'escalation-row-'))}`);
    }
    say(`MEASURE submit-to-escalation-row ${Date.now() - submittedAt} ms`);
    const drawn = await (await watchRendered(emea, boardSite, { level: 'CRITICAL', posture: 'LOCKDOWN' }, 5000))();
    check(drawn.at !== null, `${boardSite} drawn CRITICAL/LOCKDOWN`, `after 5 s it is drawn ${JSON.stringify(drawn.rendered)}`);
    say(`MEASURE submit-to-marker ${drawn.at - submittedAt} ms`);
  });

  await board.step('3-acknowledge-from-board', async () => {
    await emea.getByTestId('escalations-panel').getByTestId(`escalation-row-${escalationId}`).click();
    const panel = emea.getByTestId('escalation-panel');
    await panel.waitFor({ state: 'visible' });
    // rm-emea-emil is a first-tier responder of EMEA's default policy.
    await panel.getByTestId('action-acknowledge').waitFor({ state: 'visible', timeout: 10_000 });
    await panel.getByTestId('ack-disposition').selectOption('NO_IMPACT');
    await panel.getByTestId('action-acknowledge').click();
    const acknowledged = panel.getByTestId('timeline').locator('[data-testid="timeline-entry"][data-kind="ACKNOWLEDGED"]');
    try {
      await acknowledged.first().waitFor({ state: 'visible', timeout: 10_000 });
    } catch {
      const kinds = await panel.locator('[data-testid="timeline-entry"]').evaluateAll((entries) => entries.map((e) => e.getAttribute('data-kind')));
      const refusal = await panel.getByTestId('action-error').allInnerTexts();
      throw new Mismatch('a timeline-entry[data-kind=ACKNOWLEDGED] in the timeline', `kinds ${kinds.join(',')}; action-error ${JSON.stringify(refusal)}`);
    }
    const data = await graphql(baseUrl, tokens.lead, ESCALATION, { id: escalationId });
    const e = data.escalation;
    check(e.status === 'ACKNOWLEDGED' && e.acknowledgedBy === 'rm-emea-emil' && e.disposition === 'NO_IMPACT',
      'the API to show it ACKNOWLEDGED by rm-emea-emil, NO_IMPACT', JSON.stringify(e));
    const row = emea.getByTestId('escalations-panel').getByTestId(`escalation-row-${escalationId}`);
    await eventually(async () => ((await row.getAttribute('data-status')) === 'ACKNOWLEDGED' ? true : undefined), {
      timeoutMs: 5000,
      expected: `escalation-row-${escalationId} data-status=ACKNOWLEDGED`,
      seen: async () => `data-status=${await row.getAttribute('data-status')}`,
    });
    await acknowledged.first().scrollIntoViewIfNeeded();
    await board.screenshot(emea, 'escalation-timeline.png');
  });

  // ---- 4. The APAC manager is offered no status change for an EMEA site ----
  await board.step('4-apac-manager-no-form-for-emea-site', async () => {
    const apac = await board.newPage('apac');
    await signInWithToken(apac, baseUrl, tokens.apac);
    const panel = apac.getByTestId('site-panel');
    // Their own region's site first: it shows the form, so the panel has
    // learnt the permission by the time the EMEA site is checked.
    await apac.getByTestId(`site-row-${apacSite}`).click();
    await panel.waitFor({ state: 'visible' });
    try {
      await panel.getByTestId('status-form').waitFor({ state: 'visible', timeout: 10_000 });
    } catch {
      throw new Mismatch(`status-form for the APAC site ${apacSite}`, `site panel: ${await panel.innerText()}`);
    }
    const emeaSite = await siteByCode(baseUrl, tokens.apac, boardSite);
    await apac.getByTestId(`site-row-${boardSite}`).click();
    await panel.waitFor({ state: 'visible' });
    await eventually(async () => ((await panel.innerText()).includes(boardSite) ? true : undefined), {
      timeoutMs: 10_000,
      expected: `site-panel showing ${boardSite}`,
      seen: async () => await panel.innerText(),
    });
    const version = panel.getByTestId('site-version');
    await eventually(async () => ((await version.innerText()).includes(String(emeaSite.status.version)) ? true : undefined), {
      timeoutMs: 10_000,
      expected: `site-version ${emeaSite.status.version}`,
      seen: async () => await version.innerText(),
    });
    await apac.waitForTimeout(500); // a form rendered late would show by now
    const forms = await apac.getByTestId('status-form').count();
    check(forms === 0, `no status-form for ${boardSite} (EMEA) as rm-apac-aiko`, `${forms} rendered`);
    await board.screenshot(apac, 'apac-emea-site.png');
    await apac.context().close();
  });

  // ---- 5. Gateway restart: banner, then the change made meanwhile ----
  board.currentPage = emea;
  await board.step('5-gateway-restart-resumes', async () => {
    // The side panel would cover the map in the screenshot of the outcome.
    await emea.getByRole('button', { name: 'Close panel' }).click();
    const banner = emea.getByTestId('connection-banner');
    check((await hookState(emea)).connection === 'connected', 'connected before the restart', (await hookState(emea)).connection);
    check(!(await banner.isVisible()), 'no connection-banner while connected', 'it is visible');

    gatewayDown = { from: Date.now(), until: null };
    const secondBase = await askGo('stop-gateway');
    const stoppedAt = Date.now();
    try {
      await banner.waitFor({ state: 'visible', timeout: BANNER_LIMIT_MS });
    } catch {
      throw new Mismatch(`connection-banner visible within ${BANNER_LIMIT_MS} ms of the gateway stopping`,
        `connection ${(await hookState(emea)).connection}`);
    }
    say(`MEASURE stop-to-banner ${Date.now() - stoppedAt} ms`);
    say(`banner: ${JSON.stringify(await banner.innerText())}`);

    const away = await changeStatus(secondBase, tokens.lead, awaySite, 'HIGH', 'RESTRICTED', 'e2e: changed while the board was away');
    const meanwhile = await renderedSite(emea, awaySite);
    check(meanwhile?.level === 'NORMAL', `${awaySite} still drawn NORMAL while the board is disconnected`, JSON.stringify(meanwhile));
    check(await banner.isVisible(), 'connection-banner still visible while the gateway is down', 'it is hidden');

    const restartedBase = await askGo('start-gateway');
    check(restartedBase === baseUrl, `the gateway back at ${baseUrl}`, restartedBase);
    const restartedAt = Date.now();
    const seen = await watchRendered(emea, awaySite, { level: 'HIGH', posture: 'RESTRICTED', version: away.version }, RECONNECT_LIMIT_MS);
    const result = await seen();
    check(result.at !== null, `${awaySite} drawn HIGH/RESTRICTED v${away.version} within ${RECONNECT_LIMIT_MS} ms of the restart`,
      `drawn ${JSON.stringify(result.rendered)}, connection ${(await hookState(emea)).connection}`);
    say(`MEASURE restart-to-change-drawn ${result.at - restartedAt} ms`);
    try {
      await banner.waitFor({ state: 'hidden', timeout: RECONNECT_LIMIT_MS });
    } catch {
      throw new Mismatch('connection-banner gone after the reconnection', `connection ${(await hookState(emea)).connection}`);
    }
    const reconnectedAt = Date.now();
    say(`MEASURE restart-to-banner-gone ${reconnectedAt - restartedAt} ms`);
    gatewayDown.until = reconnectedAt;
    check((await hookState(emea)).connection === 'connected', 'connection connected', (await hookState(emea)).connection);

    const after = await emea.evaluate(() => ({
      marker: window.__e2ePageMarker,
      timeOrigin: performance.timeOrigin,
      navigations: performance.getEntriesByType('navigation').length,
    }));
    check(after.marker === pageMarker.marker && after.timeOrigin === pageMarker.timeOrigin && after.navigations === 1,
      'the same page, never reloaded', JSON.stringify({ before: pageMarker, after }));
    await emea.getByTestId(`site-row-${awaySite}`).scrollIntoViewIfNeeded();
    await board.screenshot(emea, 'reconnected.png');
  });

  // ---- 7. The main view on a laptop and on a wall ----
  await board.step('7-viewport-1366x768', async () => {
    const laptop = await board.newPage('1366x768', { width: 1366, height: 768 });
    await signInWithToken(laptop, baseUrl, tokens.lead);
    const widths = await laptop.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
    await board.screenshot(laptop, 'board-1366.png');
    check(widths.scroll <= widths.inner, 'no horizontal scrollbar at 1366×768 (scrollWidth ≤ innerWidth)',
      `scrollWidth ${widths.scroll}, innerWidth ${widths.inner}`);
    await laptop.context().close();
  });

  await board.step('7-viewport-3840x2160', async () => {
    const wall = await board.newPage('3840x2160', { width: 3840, height: 2160 });
    await signInWithToken(wall, baseUrl, tokens.lead);
    const widths = await wall.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
    await board.screenshot(wall, 'board-3840.png');
    check(widths.scroll <= widths.inner, 'no horizontal scrollbar at 3840×2160', `scrollWidth ${widths.scroll}, innerWidth ${widths.inner}`);
    await wall.context().close();
  });

  // ---- 8. Keyboard: Tab reaches the filter and a site row; Enter opens it ----
  await board.step('8-keyboard-reaches-site-panel', async () => {
    const keys = await board.newPage('keyboard');
    await signInWithToken(keys, baseUrl, tokens.emea);
    // The token is in this tab's session storage, so a reload comes back
    // signed in with the focus at the very start of the document.
    await keys.reload();
    await waitReady(keys);
    const focused = () => keys.evaluate(() => {
      const e = document.activeElement;
      const list = document.querySelector('[data-testid="site-list"]');
      return {
        testid: e?.getAttribute('data-testid') ?? null,
        tag: e?.tagName ?? null,
        inSiteList: Boolean(list && e && list.contains(e)),
        isField: e instanceof HTMLInputElement,
      };
    });
    const trail = [];
    let filterAt = null;
    let rowAt = null;
    let row = null;
    for (let presses = 1; presses <= 150 && rowAt === null; presses++) {
      await keys.keyboard.press('Tab');
      const f = await focused();
      trail.push(f.testid ?? f.tag);
      if (filterAt === null && f.inSiteList && f.isField) {
        filterAt = presses;
      }
      if (filterAt !== null && f.testid?.startsWith('site-row-')) {
        rowAt = presses;
        row = f.testid;
      }
    }
    check(filterAt !== null, 'Tab to reach the site list\'s filter', `focus went ${trail.join(' → ')}`);
    check(rowAt !== null, 'Tab to reach a site row after the filter', `focus went ${trail.join(' → ')}`);
    say(`MEASURE tabs-to-filter ${filterAt} presses`);
    say(`MEASURE tabs-to-site-row ${rowAt} presses`);
    await keys.keyboard.press('Enter');
    const panel = keys.getByTestId('site-panel');
    try {
      await panel.waitFor({ state: 'visible', timeout: 5000 });
    } catch {
      throw new Mismatch(`Enter on ${row} to open site-panel`, 'no site-panel');
    }
    const code = row.slice('site-row-'.length);
    check((await panel.innerText()).includes(code), `site-panel about ${code}`, await panel.innerText());
    await keys.context().close();
  });

  // ---- 6. The console of every page stayed clean ----
  board.currentPage = emea;
  await board.step('6-console-free-of-errors', async () => {
    const toleratedEntries = [];
    const faults = [];
    for (const entry of board.consoleEntries) {
      if (entry.type === 'warning') {
        say(`console warning [${entry.page}] ${entry.text} ${entry.url}`);
        continue;
      }
      const why = toleratedBecause(entry);
      if (why) {
        toleratedEntries.push(`${entry.text} (${why})`);
      } else {
        faults.push(`[${entry.page}] ${entry.type}: ${entry.text} ${entry.url}`);
      }
    }
    for (const line of new Set(toleratedEntries)) {
      say(`console tolerated: ${line}`);
    }
    check(faults.length === 0, 'no console error and no uncaught exception in any page', faults.join(' | '));
  });

  say(`MEASURE browser-run ${Date.now() - runStarted} ms`);
}

try {
  await main();
  await board.close();
  process.exit(0);
} catch (error) {
  if (!error.reported) {
    say(`FAIL setup: ${error?.stack ?? error}`);
  }
  const errors = board.consoleEntries.filter((e) => e.type !== 'warning' && !toleratedBecause(e));
  if (errors.length > 0) {
    say(`console errors so far:\n  ${errors.map((e) => `[${e.page}] ${e.type}: ${e.text}`).join('\n  ')}`);
  }
  await board.close().catch(() => {});
  process.exit(1);
}
