// Everything one signed-in board knows, kept current from subscriptions.
// Components read the stores; the map takes site changes through
// onSiteChanges, outside the component tree, so a burst of status changes
// never re-renders Preact per event.
import { APIError, createLive, errorCode, request, type GraphQLErrorShape, type Live, type LiveHandle } from '../api/client';
import * as doc from '../api/documents';
import type {
  AdvisoryChange,
  Connection,
  CountryLevel,
  Detail,
  Escalation,
  ImpactRadius,
  Region,
  Site,
  SiteStatus,
  Trip,
  Viewer,
} from '../api/types';
import { mark } from '../hook';
import { createStore } from './store';

export interface SiteChange {
  code: string;
  status: SiteStatus;
}

export interface TravellerAtRisk {
  tripId: string;
  segmentId: string;
  name: string;
  level: number;
  city: string;
  countryCode: string;
  latitude: number;
  longitude: number;
}

/** What the people panel is asked about: a clicked country or a drawn radius. */
export type PeopleTarget =
  | { kind: 'country'; code: string; name: string }
  | { kind: 'radius'; latitude: number; longitude: number; radiusKm: number };

/** Drawing a search radius on the map: off, waiting for the centre, or for the edge. */
export type DrawMode = { step: 'off' } | { step: 'centre' } | { step: 'edge'; latitude: number; longitude: number };

export type Selection = { kind: 'site'; code: string } | { kind: 'escalation'; id: string } | null;

export interface LoadState {
  sites: boolean;
  escalations: boolean;
  countries: boolean;
}

/** The board-wide streams, each with the snapshot it keeps current. */
type Stream = 'sites' | 'escalations' | 'advisories' | 'tripRisk';

/** How long after the gateway ended a subscription the board subscribes again. */
const resubscribeDelayMs = 1_000;

/** How many advisory changes the feed keeps. */
const advisoryFeedSize = 50;
/** The site list is re-sorted at most this often during a burst. */
const siteListRefreshMs = 250;
/** Trips go in and out of "active now" as time passes, not only on events. */
const travellerRefreshMs = 5 * 60_000;

export class BoardState {
  readonly live: Live;
  readonly sites = new Map<string, Site>();
  readonly siteCodeById = new Map<string, string>();
  /** Bumped (at most every 250 ms) when any site changed. */
  readonly sitesRevision = createStore(0);
  readonly escalations = createStore<ReadonlyMap<string, Escalation>>(new Map());
  /** Bumped on every escalation event, with the escalation's ID. */
  readonly escalationEvents = createStore<{ id: string; seq: number }>({ id: '', seq: 0 });
  readonly countryLevels = createStore<ReadonlyMap<string, number>>(new Map());
  readonly countryNames = new Map<string, string>();
  readonly advisoryFeed = createStore<readonly AdvisoryChange[]>([]);
  readonly regions = createStore<readonly Region[]>([]);
  readonly impactRadii = createStore<readonly ImpactRadius[]>([]);
  readonly travellers = createStore<readonly TravellerAtRisk[]>([]);
  readonly details = createStore<ReadonlyMap<string, Detail>>(new Map());
  readonly selection = createStore<Selection>(null);
  readonly people = createStore<PeopleTarget | null>(null);
  readonly drawMode = createStore<DrawMode>({ step: 'off' });
  /** Asks the map to centre on a site ("Show on map"). */
  readonly focus = createStore<{ code: string; seq: number }>({ code: '', seq: 0 });
  readonly loaded = createStore<LoadState>({ sites: false, escalations: false, countries: false });
  /** A load failure worth showing (the board keeps going without it). */
  readonly problem = createStore<string | null>(null);
  /** Ticks every 10 s, for ages. */
  readonly now = createStore(Date.now());

  private readonly siteListeners = new Set<(changes: SiteChange[]) => void>();
  private readonly sitesLoadedListeners = new Set<() => void>();
  /** Status events that arrived before their site's snapshot. */
  private readonly earlyStatus = new Map<string, { id: string; status: SiteStatus }>();
  /** Timeline length of escalations seen RESOLVED, so an older snapshot cannot bring them back. */
  private readonly resolvedAt = new Map<string, number>();
  /** When each escalation was last changed by an event (performance.now()). */
  private readonly escalationEventAt = new Map<string, number>();
  /** The board-wide subscriptions, by the snapshot each keeps current. */
  private readonly streams = new Map<Stream, LiveHandle>();
  private readonly detailSubscriptions = new Map<string, LiveHandle>();
  private readonly disposers: (() => void)[] = [];
  /** Failed loads waiting to be tried again, and how many times each failed in a row. */
  private readonly retries = new Map<Stream, { timer: ReturnType<typeof setTimeout>; failures: number }>();
  private revisionTimer: ReturnType<typeof setTimeout> | undefined;
  private travellerTimer: ReturnType<typeof setTimeout> | undefined;
  private earlyAdvisories: AdvisoryChange[] | null = [];
  private disposed = false;

  constructor(
    readonly token: string,
    readonly me: Viewer,
    private readonly onTokenRefused: () => void,
  ) {
    this.live = createLive(token, onTokenRefused);
    const tick = setInterval(() => this.now.set(Date.now()), 10_000);
    this.disposers.push(() => clearInterval(tick));
    this.disposers.push(
      this.live.onReconnected(() => {
        // Subscriptions resume from their cursors by themselves. One
        // without a cursor yet (the stream was empty when the board
        // started, and nothing has come since) would resume live only and
        // miss what happened while away: it starts again from a fresh
        // cursor and reloads its snapshot.
        for (const [stream, handle] of this.streams) {
          if (handle.cursor() === null) void this.resync(stream);
        }
        // Cheap to reload, and they catch what a cursor cannot: details
        // started while away, an escalation list that failed to load.
        void this.loadEscalations();
        void this.loadDetails();
        const loaded = this.loaded.get();
        if (!loaded.sites) void this.loadSites();
        if (!loaded.countries) void this.loadBasics();
      }),
    );
  }

  /**
   * Takes the stream's cursor, subscribes from it, then loads the
   * snapshots: whatever changes while they load is replayed to the
   * subscriptions, so nothing falls between a snapshot and its stream.
   */
  start(): void {
    void this.begin();
  }

  private async begin(): Promise<void> {
    const after = await this.liveCursor();
    if (this.disposed) return;
    this.subscribeSites(after);
    this.subscribeEscalations(after);
    this.subscribeAdvisories(after);
    this.subscribeTripRisk(after);
    void this.loadBasics();
    void this.loadSites();
    void this.loadEscalations();
    void this.loadTravellers();
    void this.loadDetails(after);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.revisionTimer);
    clearTimeout(this.travellerTimer);
    for (const { timer } of this.retries.values()) clearTimeout(timer);
    for (const dispose of this.disposers) dispose();
    for (const handle of this.streams.values()) handle.dispose();
    for (const handle of this.detailSubscriptions.values()) handle.dispose();
    this.live.dispose();
  }

  /** A query or mutation; a token the gateway no longer accepts signs the board out. */
  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    try {
      return await request<T>(this.token, query, variables);
    } catch (err) {
      if (err instanceof APIError && err.code === 'UNAUTHENTICATED' && !this.disposed) this.onTokenRefused();
      throw err;
    }
  }

  /** The stream's position now, or null (an empty stream, or the gateway could not say: the board then starts live only). */
  private async liveCursor(): Promise<string | null> {
    try {
      const { liveCursor } = await this.request<{ liveCursor: string | null }>(doc.liveCursorQuery);
      return liveCursor;
    } catch (err) {
      console.info(`meridian board: no live cursor (${err instanceof Error ? err.message : String(err)}); subscribing live`);
      return null;
    }
  }

  /** One stream and its snapshot again, from a fresh cursor: after an expired cursor, or a reconnect with none. */
  private async resync(stream: Stream): Promise<void> {
    const after = await this.liveCursor();
    if (this.disposed) return;
    switch (stream) {
      case 'sites':
        this.subscribeSites(after);
        return this.loadSites();
      case 'escalations':
        this.subscribeEscalations(after);
        return this.loadEscalations();
      case 'advisories':
        this.subscribeAdvisories(after);
        return this.loadBasics();
      case 'tripRisk':
        this.subscribeTripRisk(after);
        this.scheduleTravellerRefresh(0);
        return;
    }
  }

  private follow(stream: Stream, handle: LiveHandle): void {
    this.streams.get(stream)?.dispose();
    this.streams.set(stream, handle);
  }

  /** The map listens here: every accepted status change, in arrival order. */
  onSiteChanges(listener: (changes: SiteChange[]) => void): () => void {
    this.siteListeners.add(listener);
    return () => this.siteListeners.delete(listener);
  }

  /** Called once every page of sites is in `sites`. */
  onSitesLoaded(listener: () => void): () => void {
    this.sitesLoadedListeners.add(listener);
    if (this.loaded.get().sites) listener();
    return () => this.sitesLoadedListeners.delete(listener);
  }

  openSite(code: string): void {
    this.selection.set({ kind: 'site', code });
  }

  openEscalation(id: string): void {
    this.selection.set({ kind: 'escalation', id });
  }

  closePanel(): void {
    this.selection.set(null);
  }

  /** The open (or acknowledged) escalation of a site, if any. */
  escalationOfSite(code: string): Escalation | undefined {
    for (const escalation of this.escalations.get().values()) {
      if (escalation.site?.code === code) return escalation;
    }
    return undefined;
  }

  // --- sites -------------------------------------------------------------

  /** Every site, page by page (the events that arrive meanwhile are kept in earlyStatus). */
  private async loadSites(): Promise<void> {
    try {
      for (const site of await this.allPages<Site>(doc.sitesPageQuery, 'sites')) this.acceptSite(site);
    } catch (err) {
      this.report('sites', err);
      this.retryLater('sites', () => this.loadSites());
      return;
    }
    if (this.disposed) return;
    this.succeeded('sites');
    this.loaded.update((state) => ({ ...state, sites: true }));
    mark('sites');
    this.bumpSites(true);
    for (const listener of this.sitesLoadedListeners) listener();
    // A site that changed while the pages were on their way but is in none
    // of them (created meanwhile, behind the cursor): fetched whole, as any
    // site first heard of from now on is.
    for (const { id } of this.earlyStatus.values()) this.fetchSite(id);
    this.earlyStatus.clear();
  }

  /** A site from a snapshot or a query: the newer status wins. */
  acceptSite(site: Site): void {
    const early = this.earlyStatus.get(site.code)?.status;
    if (early) {
      this.earlyStatus.delete(site.code);
      if (early.version > site.status.version) site = { ...site, status: early };
    }
    const known = this.sites.get(site.code);
    this.siteCodeById.set(site.id, site.code);
    if (known && known.status.version > site.status.version) {
      this.sites.set(site.code, { ...site, status: known.status });
      return;
    }
    this.sites.set(site.code, site);
    if (known && known.status.version < site.status.version) {
      this.emitSiteChanges([{ code: site.code, status: site.status }]);
    }
  }

  private subscribeSites(after: string | null): void {
    this.follow('sites', this.live.subscribe<{ cursor: string; site: { id: string; code: string }; current: SiteStatus }>({
      query: doc.siteStatusChangedSubscription,
      variables: { after },
      cursorOf: (event) => event.cursor,
      onEvent: (event) => this.applyStatus(event.site.code, event.site.id, event.current),
      // The cursor too old to replay, say: start again from a fresh one and
      // reload every site, so the gap is filled from the source of truth.
      onError: (errors) => this.resubscribe('siteStatusChanged', errors, 'sites'),
    }));
  }

  private applyStatus(code: string, id: string, status: SiteStatus): void {
    const site = this.sites.get(code);
    if (!site) {
      if (this.loaded.get().sites) {
        // A site created after the board loaded: fetch it whole.
        this.fetchSite(id);
      } else {
        const early = this.earlyStatus.get(code);
        if (!early || early.status.version < status.version) this.earlyStatus.set(code, { id, status });
      }
      return;
    }
    if (status.version <= site.status.version) return;
    this.sites.set(code, { ...site, status });
    this.emitSiteChanges([{ code, status }]);
  }

  private fetchSite(id: string): void {
    void this.request<{ site: Site | null }>(doc.siteQuery, { id })
      .then(({ site }) => {
        if (site && !this.disposed) {
          this.acceptSite(site);
          this.emitSiteChanges([{ code: site.code, status: site.status }]);
        }
      })
      .catch((err: unknown) => this.report('a new site', err));
  }

  private emitSiteChanges(changes: SiteChange[]): void {
    for (const listener of this.siteListeners) listener(changes);
    this.bumpSites(false);
  }

  private bumpSites(now: boolean): void {
    if (now) {
      clearTimeout(this.revisionTimer);
      this.revisionTimer = undefined;
      this.sitesRevision.update((n) => n + 1);
      return;
    }
    if (this.revisionTimer !== undefined) return;
    this.revisionTimer = setTimeout(() => {
      this.revisionTimer = undefined;
      this.sitesRevision.update((n) => n + 1);
    }, siteListRefreshMs);
  }

  // --- escalations -------------------------------------------------------

  /** Loads OPEN and ACKNOWLEDGED escalations; events that came in meanwhile win. */
  async loadEscalations(): Promise<void> {
    const startedAt = performance.now();
    const fresh = new Map<string, Escalation>();
    try {
      for (const status of ['OPEN', 'ACKNOWLEDGED'] as const) {
        for (const escalation of await this.allPages<Escalation>(doc.escalationsPageQuery, 'escalations', { status })) {
          fresh.set(escalation.id, escalation);
        }
      }
    } catch (err) {
      this.report('escalations', err);
      this.retryLater('escalations', () => this.loadEscalations());
      return;
    }
    if (this.disposed) return;
    this.succeeded('escalations');
    const merged = new Map<string, Escalation>();
    for (const [id, loaded] of fresh) {
      const resolvedLength = this.resolvedAt.get(id);
      if (resolvedLength !== undefined && resolvedLength >= loaded.timeline.length) continue;
      const known = this.escalations.get().get(id);
      merged.set(id, known && known.timeline.length > loaded.timeline.length ? known : loaded);
    }
    // An escalation missing from the snapshot stays only if an event brought
    // it after the snapshot was asked for (it opened meanwhile).
    for (const [id, known] of this.escalations.get()) {
      if (!merged.has(id) && (this.escalationEventAt.get(id) ?? -1) > startedAt) merged.set(id, known);
    }
    this.escalations.set(merged);
    this.loaded.update((state) => ({ ...state, escalations: true }));
    mark('escalations');
  }

  /** An escalation as a mutation or an event returned it. */
  acceptEscalation(escalation: Escalation): void {
    const current = this.escalations.get();
    const known = current.get(escalation.id);
    if (known && known.timeline.length > escalation.timeline.length) return;
    // Seen resolved already: an older answer (a slower mutation's, say)
    // must not bring it back.
    const resolvedLength = this.resolvedAt.get(escalation.id);
    if (resolvedLength !== undefined && resolvedLength >= escalation.timeline.length) return;
    this.escalationEventAt.set(escalation.id, performance.now());
    const next = new Map(current);
    if (escalation.status === 'RESOLVED') {
      this.resolvedAt.set(escalation.id, escalation.timeline.length);
      next.delete(escalation.id);
    } else {
      next.set(escalation.id, escalation);
    }
    this.escalations.set(next);
    this.escalationEvents.update((last) => ({ id: escalation.id, seq: last.seq + 1 }));
  }

  private subscribeEscalations(after: string | null): void {
    this.follow('escalations', this.live.subscribe<{ cursor: string; escalation: Escalation }>({
      query: doc.escalationUpdatedSubscription,
      variables: { after },
      cursorOf: (event) => event.cursor,
      onEvent: (event) => this.acceptEscalation(event.escalation),
      onError: (errors) => this.resubscribe('escalationUpdated', errors, 'escalations'),
    }));
  }

  // --- countries and advisories --------------------------------------------

  private async loadBasics(): Promise<void> {
    // Advisory events that arrive while this snapshot is on its way wait
    // for it and are applied on top, in order.
    this.earlyAdvisories ??= [];
    try {
      const basics = await this.request<{ regions: Region[]; countryLevels: CountryLevel[]; impactRadii: ImpactRadius[] }>(
        doc.boardBasicsQuery,
      );
      if (this.disposed) return;
      this.regions.set(basics.regions);
      this.impactRadii.set(basics.impactRadii);
      const levels = new Map<string, number>();
      for (const entry of basics.countryLevels) {
        levels.set(entry.country.code, entry.level);
        this.countryNames.set(entry.country.code, entry.country.name);
      }
      // Changes that arrived while the snapshot was on its way are newer.
      for (const change of this.earlyAdvisories ?? []) levels.set(change.country.code, change.level);
      this.earlyAdvisories = null;
      this.countryLevels.set(levels);
      this.succeeded('advisories');
      this.loaded.update((state) => ({ ...state, countries: true }));
      mark('countries');
    } catch (err) {
      // Keep the levels the board has, with what arrived meanwhile.
      this.applyAdvisories(this.earlyAdvisories ?? []);
      this.earlyAdvisories = null;
      this.report('countries and regions', err);
      this.retryLater('advisories', () => this.loadBasics());
    }
  }

  private applyAdvisories(changes: AdvisoryChange[]): void {
    if (changes.length === 0) return;
    const next = new Map(this.countryLevels.get());
    for (const change of changes) next.set(change.country.code, change.level);
    this.countryLevels.set(next);
  }

  private subscribeAdvisories(after: string | null): void {
    this.follow('advisories', this.live.subscribe<AdvisoryChange>({
      query: doc.advisoryChangedSubscription,
      variables: { after },
      cursorOf: (event) => event.cursor,
      onEvent: (change) => {
        this.countryNames.set(change.country.code, change.country.name);
        if (this.earlyAdvisories) this.earlyAdvisories.push(change);
        else this.applyAdvisories([change]);
        this.advisoryFeed.update((feed) => [change, ...feed].slice(0, advisoryFeedSize));
        // A country's new level changes which trips are at risk.
        this.scheduleTravellerRefresh(1_000);
      },
      onError: (errors) => this.resubscribe('advisoryChanged', errors, 'advisories'),
    }));
  }

  // --- travellers at risk ---------------------------------------------------

  private subscribeTripRisk(after: string | null): void {
    this.follow('tripRisk', this.live.subscribe<{ cursor: string }>({
      query: doc.tripRiskChangedSubscription,
      variables: { after },
      cursorOf: (event) => event.cursor,
      onEvent: () => this.scheduleTravellerRefresh(500),
      onError: (errors) => {
        // Callers who may not read trips are refused here; that is not a
        // problem worth a banner, the layer simply stays empty.
        if (errors.some((e) => e.extensions?.code === 'FORBIDDEN')) {
          this.streams.get('tripRisk')?.dispose();
          this.streams.delete('tripRisk');
          return;
        }
        this.resubscribe('tripRiskChanged', errors, 'tripRisk');
      },
    }));
  }

  private scheduleTravellerRefresh(delayMs: number): void {
    clearTimeout(this.travellerTimer);
    this.travellerTimer = setTimeout(() => void this.loadTravellers(), delayMs);
  }

  private async loadTravellers(): Promise<void> {
    const now = new Date();
    try {
      const trips = await this.allPages<Trip>(doc.tripsAtRiskQuery, 'trips', { at: now.toISOString() });
      if (this.disposed) return;
      const markers: TravellerAtRisk[] = [];
      for (const trip of trips) {
        for (const segment of trip.segments) {
          const location = segment.place.location;
          if (!location) continue;
          if (Date.parse(segment.startsAt) > now.getTime() || Date.parse(segment.endsAt) <= now.getTime()) continue;
          markers.push({
            tripId: trip.id,
            segmentId: segment.id,
            name: trip.traveller.name,
            level: Math.max(trip.risk.level, segment.risk.level),
            city: segment.place.city,
            countryCode: segment.place.countryCode,
            latitude: location.latitude,
            longitude: location.longitude,
          });
        }
      }
      this.travellers.set(markers);
    } catch (err) {
      if (errorCode(err) !== 'FORBIDDEN') this.report('trips at risk', err);
    } finally {
      if (!this.disposed) this.scheduleTravellerRefresh(travellerRefreshMs);
    }
  }

  // --- protection details -----------------------------------------------------

  /** The active details, each followed from `after` (a cursor taken before this list is read). */
  private async loadDetails(after?: string | null): Promise<void> {
    const from = after === undefined ? await this.liveCursor() : after;
    let found: Detail[];
    try {
      found = await this.allPages<Detail>(doc.activeDetailsQuery, 'details');
    } catch (err) {
      if (errorCode(err) !== 'FORBIDDEN') this.report('protection details', err);
      return;
    }
    if (this.disposed) return;
    const next = new Map<string, Detail>();
    for (const detail of found) next.set(detail.id, detail);
    this.details.set(next);
    for (const [id, handle] of this.detailSubscriptions) {
      if (!next.has(id)) {
        handle.dispose();
        this.detailSubscriptions.delete(id);
      }
    }
    for (const id of next.keys()) if (!this.detailSubscriptions.has(id)) this.subscribeDetail(id, from);
  }

  private subscribeDetail(detailId: string, after: string | null): void {
    const handle = this.live.subscribe<{ cursor: string; detail: Detail }>({
      query: doc.detailUpdatedSubscription,
      variables: { detailId, after },
      cursorOf: (event) => event.cursor,
      onEvent: ({ detail }) => {
        const next = new Map(this.details.get());
        if (detail.status === 'ACTIVE') next.set(detail.id, detail);
        else next.delete(detail.id);
        this.details.set(next);
      },
      onError: (errors) => {
        this.detailSubscriptions.get(detailId)?.dispose();
        this.detailSubscriptions.delete(detailId);
        if (errors.some((e) => e.extensions?.code === 'FORBIDDEN' || e.extensions?.code === 'NOT_FOUND')) return;
        this.logEnded('detailUpdated', errors);
        setTimeout(() => {
          if (!this.disposed) void this.loadDetails();
        }, resubscribeDelayMs);
      },
    });
    this.detailSubscriptions.set(detailId, handle);
  }

  // --- shared --------------------------------------------------------------------

  /** Every page of a connection: a large incident must not stop at the first hundred. */
  private async allPages<T>(query: string, field: string, variables: Record<string, unknown> = {}): Promise<T[]> {
    const nodes: T[] = [];
    let after: string | null = null;
    for (;;) {
      const data: Record<string, Connection<T> | undefined> = await this.request(query, { ...variables, after });
      const page = data[field];
      if (!page) return nodes;
      for (const { node } of page.edges) nodes.push(node);
      if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return nodes;
      after = page.pageInfo.endCursor;
    }
  }

  /** A subscription the gateway ended (an expired cursor, a replica going away): its stream again, shortly. */
  private resubscribe(name: string, errors: GraphQLErrorShape[], stream: Stream): void {
    if (this.disposed) return;
    this.logEnded(name, errors);
    setTimeout(() => {
      if (!this.disposed) void this.resync(stream);
    }, resubscribeDelayMs);
  }

  private logEnded(name: string, errors: GraphQLErrorShape[]): void {
    const first = errors[0];
    console.info(`meridian board: ${name} ended (${first?.extensions?.code ?? 'ERROR'}: ${first?.message ?? 'no reason'}); subscribing again`);
  }

  /**
   * A snapshot that failed to load is tried again, 2 s after the first
   * failure and up to 30 s apart, for as long as the board is open: a
   * failover must not leave the board empty until someone reloads it.
   */
  private retryLater(stream: Stream, load: () => Promise<void>): void {
    if (this.disposed) return;
    const failures = (this.retries.get(stream)?.failures ?? 0) + 1;
    clearTimeout(this.retries.get(stream)?.timer);
    const delay = Math.min(2_000 * 2 ** (failures - 1), 30_000);
    const timer = setTimeout(() => {
      if (!this.disposed) void load();
    }, delay);
    this.retries.set(stream, { timer, failures });
  }

  private succeeded(stream: Stream): void {
    const retry = this.retries.get(stream);
    if (!retry) return;
    clearTimeout(retry.timer);
    this.retries.delete(stream);
    // Everything that failed has loaded since: the message is stale.
    if (this.retries.size === 0 && this.problem.get()?.startsWith('Could not load')) this.problem.set(null);
  }

  private report(what: string, err: unknown): void {
    if (this.disposed) return;
    // A network failure while the gateway restarts is shown by the
    // connection banner; the reconnect reloads what matters.
    if (err instanceof APIError && err.code === 'NETWORK') {
      console.info(`meridian board: could not load ${what}: ${err.message}`);
      return;
    }
    const text = err instanceof Error ? err.message : String(err);
    this.problem.set(`Could not load ${what}: ${err instanceof APIError ? `${err.code}: ` : ''}${text}`);
  }
}
