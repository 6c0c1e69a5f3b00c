// The board's end-to-end test in headless Chromium, against a real stack
// (gateway, worker, PostgreSQL, Redis, Temporal) that the Go test
// BoardBrowser (services/gateway/server/board_browser_test.go) starts and
// restarts on request. Run it through `go test`, not by hand: the Go test
// sets the environment and answers the CONTROL requests.
//
// Environment: BOARD_URL (the gateway's base URL), TOKEN_EMEA_MANAGER,
// TOKEN_APAC_MANAGER, TOKEN_GLOBAL_LEAD, TOKEN_TRAVEL_TEAM (demo personas'
// bearer tokens), SEEDED_SITES (JSON [{code, region}] of the demo sites), SCREENSHOT_DIR,
// CHROMIUM (default /usr/bin/chromium).

import {
  Board, Mismatch, askGo, check, eventually, graphql, hookState, renderedCountryLevels, renderedSite, requireEnv, say,
  signInWithPersona, signInWithToken, waitReady, watchCountryLevel, watchRendered,
} from './board-harness.mjs';

const baseUrl = requireEnv('BOARD_URL').replace(/\/$/, '');
const tokens = {
  emea: requireEnv('TOKEN_EMEA_MANAGER'),
  apac: requireEnv('TOKEN_APAC_MANAGER'),
  lead: requireEnv('TOKEN_GLOBAL_LEAD'),
  travel: requireEnv('TOKEN_TRAVEL_TEAM'),
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
const CONFLICT_LIMIT_MS = 10_000;
const ADVISORY_LIMIT_MS = 10_000;
const PEOPLE_LIMIT_MS = 10_000;

// Step 11's traveller: a demo traveller (the Go test loads them into the
// directory) in a Nairobi hotel from an hour ago to two days from now.
const TRAVEL_COUNTRY = 'KE';
const TRAVELLER = 'tr-tomas';

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

const SITE_STATUS = `query($id: ID!) { site(id: $id) {
  code status { level posture version note updatedBy }
  statusHistory(first: 100) { edges { node { version note updatedBy } } }
} }`;

const COUNTRY_LEVELS = '{ countryLevels { country { code name } level rule } }';

const SET_OVERRIDE = `mutation($input: SetAdvisoryOverrideInput!) {
  setAdvisoryOverride(input: $input) { countryRisk { country { code name } level rule override { level reason } } }
}`;

const CREATE_TRIP = `mutation($input: CreateTripInput!) {
  createTrip(input: $input) { trip { id status traveller { subject name } segments { place { city countryCode } startsAt endsAt } } }
}`;

const WHO_IS_WHERE = `query($country: String) {
  whoIsWhere(country: $country) { traveller { subject name } trip { id } segment { place { city countryCode } } }
}`;

const TRIPS_AT_RISK = `query($at: Time!, $country: String) {
  trips(minLevel: 3, at: $at, country: $country, first: 100) { edges { node { id traveller { name } } } }
}`;

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

  // The EMEA, NORMAL/OPEN sites that steps 2, 3, 5 and 9 change, one each,
  // so that no step sees another's change.
  const apiSites = await listSites(baseUrl, tokens.emea);
  const quietEMEA = apiSites
    .filter((s) => s.region.code === 'EMEA' && s.status.level === 'NORMAL' && s.status.posture === 'OPEN')
    .map((s) => s.code)
    .sort();
  if (quietEMEA.length < 4) {
    throw new Error(`the demo data has ${quietEMEA.length} EMEA sites at NORMAL/OPEN; the test needs 4`);
  }
  const [liveSite, boardSite, awaySite, conflictSite] = quietEMEA;
  const apacSite = apiSites.filter((s) => s.region.code === 'APAC').map((s) => s.code).sort()[0];
  say(`sites: API change ${liveSite}, board change ${boardSite}, change while away ${awaySite}, `
    + `conflict ${conflictSite}, APAC ${apacSite}`);

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
    // The change was drawn by redrawing only around the marker: the canvas
    // must hold exactly what a full redraw would.
    const off = await emea.evaluate(() => window.__meridianBoard.overlayPixelsOff());
    check(off === 0, 'the sites\' canvas after a partial redraw equal to a full redraw', `${off} pixels differ`);
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

  // ---- 9. A submit on top of a version someone else replaced: the conflict ----
  board.currentPage = emea;
  await board.step('9-status-conflict-shows-new-status', async () => {
    const before = await siteByCode(baseUrl, tokens.emea, conflictSite);
    await emea.getByTestId(`site-row-${conflictSite}`).click();
    const panel = emea.getByTestId('site-panel');
    await panel.waitFor({ state: 'visible' });
    const form = panel.getByTestId('status-form');
    try {
      await form.waitFor({ state: 'visible', timeout: CONFLICT_LIMIT_MS });
    } catch {
      throw new Mismatch(`status-form for ${conflictSite} as rm-emea-emil`, `site panel: ${await panel.innerText()}`);
    }
    // The form must have taken its base version before the other change,
    // or the board's submit would rightly succeed.
    const submit = form.getByTestId('status-submit');
    await eventually(async () => ((await panel.innerText()).includes(conflictSite)
      && (await submit.innerText()).includes(`from version ${before.status.version}`) ? true : undefined), {
      timeoutMs: CONFLICT_LIMIT_MS,
      expected: `site-panel about ${conflictSite} with status-submit "from version ${before.status.version}" (its version in the API)`,
      seen: async () => `status-submit ${JSON.stringify(await submit.innerText())}; panel: ${await panel.innerText()}`,
    });
    const boardNote = 'e2e: board edit on top of a version that is gone';
    await form.getByTestId('status-level').selectOption('ELEVATED');
    await form.getByTestId('status-posture').selectOption('RESTRICTED');
    await form.getByTestId('status-note').fill(boardNote);

    // Meanwhile another client (the global lead, through the API) changes it.
    const apiNote = 'e2e: changed through the API while the form was open';
    const change = await changeStatus(baseUrl, tokens.lead, conflictSite, 'HIGH', 'CLOSED', apiNote);
    check(change.version > before.status.version, `the API change to make a version after ${before.status.version}`, change.version);

    await submit.click();
    const conflict = form.getByTestId('status-conflict');
    try {
      await conflict.waitFor({ state: 'visible', timeout: CONFLICT_LIMIT_MS });
    } catch {
      throw new Mismatch(`status-conflict visible within ${CONFLICT_LIMIT_MS} ms of submitting on top of v${before.status.version}`,
        `site panel: ${await panel.innerText()}`);
    }

    // The API: the site is exactly as the other client left it.
    const data = await graphql(baseUrl, tokens.lead, SITE_STATUS, { id: before.id });
    const stored = data.site.status;
    check(stored.level === 'HIGH' && stored.posture === 'CLOSED' && stored.version === change.version && stored.note === apiNote,
      `${conflictSite} in the API HIGH/CLOSED v${change.version} with the API's note (the board's submit changed nothing)`,
      JSON.stringify(stored));
    const boardWrites = data.site.statusHistory.edges.filter((e) => e.node.note === boardNote);
    check(boardWrites.length === 0, `no version of ${conflictSite} with the board's note`, JSON.stringify(boardWrites));

    const text = await conflict.innerText();
    say(`conflict: ${JSON.stringify(text)}`);
    for (const part of ['Someone else changed this site', 'HIGH / CLOSED', `version ${change.version}`, `by ${stored.updatedBy}`]) {
      check(text.includes(part), `status-conflict to say "${part}"`, JSON.stringify(text));
    }
    check(!text.includes('ELEVATED') && !text.includes('RESTRICTED'), 'status-conflict to show the new status, not the one typed',
      JSON.stringify(text));

    // The panel shows the new status, and the form offers to retry on top of it.
    const shown = async () => ({
      level: await panel.getByTestId('site-level').innerText(),
      posture: await panel.getByTestId('site-posture').innerText(),
      version: await panel.getByTestId('site-version').innerText(),
      submit: await submit.innerText(),
    });
    await eventually(async () => {
      const s = await shown();
      return s.level.trim() === 'HIGH' && s.posture.trim() === 'CLOSED' && s.version.trim() === String(change.version)
        && s.submit.includes(`from version ${change.version}`) ? true : undefined;
    }, {
      timeoutMs: CONFLICT_LIMIT_MS,
      expected: `site-level HIGH, site-posture CLOSED, site-version ${change.version}, status-submit "from version ${change.version}"`,
      seen: async () => JSON.stringify(await shown()),
    });
    const typed = {
      level: await form.getByTestId('status-level').inputValue(),
      posture: await form.getByTestId('status-posture').inputValue(),
      note: await form.getByTestId('status-note').inputValue(),
    };
    check(typed.level === 'ELEVATED' && typed.posture === 'RESTRICTED' && typed.note === boardNote,
      'the form to keep what was typed (ELEVATED/RESTRICTED and the note) for a retry', JSON.stringify(typed));
    await conflict.scrollIntoViewIfNeeded();
    await board.screenshot(emea, 'status-conflict.png');
  });

  // ---- 10. Countries shaded at the API's levels; an advisory change reaches map and feed ----
  await board.step('10-country-shading-and-advisory-feed', async () => {
    const levels = (await graphql(baseUrl, tokens.emea, COUNTRY_LEVELS)).countryLevels;
    check(levels.length >= 3, 'countryLevels to list at least 3 countries (the Go test loads the advisory fixtures)',
      `${levels.length}: ${JSON.stringify(levels)}`);
    const apiLevel = new Map(levels.map((l) => [l.country.code, l.level]));
    const codes = [...apiLevel.keys()].sort();
    const wrong = async () => {
      const drawn = await renderedCountryLevels(emea, codes);
      return codes.filter((code) => drawn[code] !== apiLevel.get(code)).map((code) => `${code} drawn ${drawn[code]}, API ${apiLevel.get(code)}`);
    };
    await eventually(async () => ((await wrong()).length === 0 ? true : undefined), {
      timeoutMs: 5000,
      expected: `renderedCountryLevel(code) = the API's level for each of the ${codes.length} countries in countryLevels`,
      seen: async () => (await wrong()).join('; '),
    });
    say(`countries shaded as the API says: ${codes.map((code) => `${code}=${apiLevel.get(code)}`).join(' ')}`);

    // One country, not the one step 11's traveller is in, moved by an override.
    const target = levels.filter((l) => l.country.code !== TRAVEL_COUNTRY && l.rule === 'SOURCE_MAX')
      .sort((a, b) => a.country.code.localeCompare(b.country.code))[0];
    check(target !== undefined, 'a country decided by its sources to override', JSON.stringify(levels));
    const { code, name } = target.country;
    const original = target.level;
    const moved = original >= 3 ? 1 : 4;
    say(`advisory override: ${name} (${code}) ${original} → ${moved}`);

    const feed = emea.getByTestId('advisory-feed');
    const rows = feed.locator(`li[data-country="${code}"]`);
    const rowsBefore = await rows.count();
    const seen = await watchCountryLevel(emea, code, moved, ADVISORY_LIMIT_MS);
    const set = await graphql(baseUrl, tokens.lead, SET_OVERRIDE,
      { input: { country: code, level: moved, reason: 'e2e: analyst override seen on the board' } });
    const respondedAt = Date.now();
    const risk = set.setAdvisoryOverride.countryRisk;
    check(risk.level === moved && risk.rule === 'OVERRIDE', `${code} at level ${moved} by OVERRIDE after setAdvisoryOverride`,
      JSON.stringify(risk));
    const result = await seen();
    check(result.at !== null, `renderedCountryLevel(${code}) = ${moved} within ${ADVISORY_LIMIT_MS} ms of the override`,
      `it is ${result.rendered}`);
    say(`MEASURE advisory-change-to-map ${result.at - respondedAt} ms`);

    try {
      await rows.nth(rowsBefore).waitFor({ state: 'attached', timeout: ADVISORY_LIMIT_MS });
    } catch {
      throw new Mismatch(`a new advisory-feed entry for ${code} within ${ADVISORY_LIMIT_MS} ms`,
        `${await rows.count()} entries for it (${rowsBefore} before); feed: ${JSON.stringify(await feed.innerText())}`);
    }
    // Newest first: the first entry for the country is this change.
    const entry = await rows.first().innerText();
    say(`advisory-feed entry: ${JSON.stringify(entry)}`);
    for (const part of [`${name} (${code})`, `${original} → ${moved}`, 'override']) {
      check(entry.includes(part), `the advisory-feed entry to say "${part}"`, JSON.stringify(entry));
    }
    const countryRows = await feed.locator('li').evaluateAll((items) => items.map((li) => li.getAttribute('data-country')));
    check(countryRows[0] === code, `the newest advisory-feed entry to be ${code}'s`, JSON.stringify(countryRows));
    await feed.scrollIntoViewIfNeeded();
    await board.screenshot(emea, 'advisory-change.png');

    // Clear it, so that no later step sees it: back to what the sources say.
    const back = await watchCountryLevel(emea, code, original, ADVISORY_LIMIT_MS);
    // Each advisory change makes the board reload the trips at risk a
    // second later. That reload must be over before step 5 stops the
    // gateway, where its failed fetch would be a console error.
    const clearSent = Date.now();
    const tripsReloaded = emea.waitForResponse((response) => response.url() === `${baseUrl}/graphql`
      && (response.request().postData() ?? '').includes('TripsAtRisk')
      && response.request().timing().startTime >= clearSent, { timeout: ADVISORY_LIMIT_MS })
      .then(() => true, () => false);
    const cleared = (await graphql(baseUrl, tokens.lead, SET_OVERRIDE, { input: { country: code, level: null } }))
      .setAdvisoryOverride.countryRisk;
    const clearedAt = Date.now();
    check(cleared.level === original && cleared.rule === 'SOURCE_MAX' && cleared.override === null,
      `${code} back at level ${original} by SOURCE_MAX with no override once cleared`, JSON.stringify(cleared));
    const restored = await back();
    check(restored.at !== null, `renderedCountryLevel(${code}) back to ${original} within ${ADVISORY_LIMIT_MS} ms of clearing`,
      `it is ${restored.rendered}`);
    say(`MEASURE advisory-clear-to-map ${restored.at - clearedAt} ms`);
    check(await tripsReloaded, `the board to reload the trips at risk within ${ADVISORY_LIMIT_MS} ms of the advisory change`,
      'no TripsAtRisk request after it');
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
    const off = await emea.evaluate(() => window.__meridianBoard.overlayPixelsOff());
    check(off === 0, 'the sites\' canvas after the changes caught up equal to a full redraw', `${off} pixels differ`);
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

  // ---- 11. Who is where: someone travelling now, found by country ----
  await board.step('11-who-is-where-by-country', async () => {
    const now = Date.now();
    const hour = 3600_000;
    const created = (await graphql(baseUrl, tokens.travel, CREATE_TRIP, { input: {
      traveller: TRAVELLER,
      purpose: 'e2e: customer visit under way',
      segments: [{
        kind: 'HOTEL',
        startsAt: new Date(now - hour).toISOString(),
        endsAt: new Date(now + 48 * hour).toISOString(),
        timezone: 'Africa/Nairobi',
        place: { city: 'Nairobi', countryCode: TRAVEL_COUNTRY, latitude: -1.2921, longitude: 36.8219 },
      }],
    } })).createTrip.trip;
    const travellerName = created.traveller.name;
    check(created.traveller.subject === TRAVELLER && travellerName, `a trip for ${TRAVELLER}`, JSON.stringify(created));
    say(`trip ${created.id} (${created.status}) for ${travellerName} in Nairobi, ${TRAVEL_COUNTRY}`);

    // What the API says, as the global lead (who may read every trip).
    const presences = (await graphql(baseUrl, tokens.lead, WHO_IS_WHERE, { country: TRAVEL_COUNTRY })).whoIsWhere;
    check(presences.some((p) => p.trip.id === created.id && p.traveller.subject === TRAVELLER),
      `whoIsWhere(country: ${TRAVEL_COUNTRY}) to list trip ${created.id}`, JSON.stringify(presences));
    const atRisk = (await graphql(baseUrl, tokens.lead, TRIPS_AT_RISK, { at: new Date().toISOString(), country: TRAVEL_COUNTRY }))
      .trips.edges.map((e) => e.node);

    const people = await board.newPage('people');
    await signInWithToken(people, baseUrl, tokens.lead);
    const panel = people.getByTestId('people-panel');
    await panel.getByTestId('people-country').fill(TRAVEL_COUNTRY);
    await panel.getByRole('button', { name: 'Who is there' }).click();
    const result = panel.getByTestId('people-result');
    try {
      await result.waitFor({ state: 'visible', timeout: PEOPLE_LIMIT_MS });
    } catch {
      throw new Mismatch(`people-result within ${PEOPLE_LIMIT_MS} ms of asking for ${TRAVEL_COUNTRY}`,
        `people panel: ${JSON.stringify(await panel.innerText())}`);
    }
    const resultText = await result.innerText();
    check(resultText.includes(`(${TRAVEL_COUNTRY})`), `people-result about ${TRAVEL_COUNTRY}`, JSON.stringify(resultText));

    const presenceRows = await result.getByTestId('people-presence').allInnerTexts();
    say(`people-presence: ${JSON.stringify(presenceRows)}`);
    check(presenceRows.length === presences.length, `${presences.length} people-presence rows, as whoIsWhere answers`,
      JSON.stringify(presenceRows));
    check(presenceRows.some((row) => row.includes(travellerName) && row.includes(`Nairobi, ${TRAVEL_COUNTRY}`)),
      `a people-presence row naming ${travellerName} in Nairobi, ${TRAVEL_COUNTRY}`, JSON.stringify(presenceRows));

    // Trips at risk (level 3 or more) in the country, as the API lists them.
    const tripRows = await result.getByTestId('people-trip').allInnerTexts();
    say(`people-trip: ${JSON.stringify(tripRows)} (API: ${atRisk.length} at risk)`);
    check(tripRows.length === atRisk.length, `${atRisk.length} people-trip rows, as trips(minLevel: 3) answers`, JSON.stringify(tripRows));
    for (const trip of atRisk) {
      check(tripRows.some((row) => row.includes(trip.traveller.name)), `a people-trip row naming ${trip.traveller.name}`,
        JSON.stringify(tripRows));
    }
    await board.screenshot(people, 'who-is-where.png');
    await people.context().close();
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
