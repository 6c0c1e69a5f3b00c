// The map: MapLibre with an offline style (no tiles, glyphs or sprites from
// anywhere), countries from Natural Earth shaded by advisory level, every
// site as a runtime-drawn icon on the overlay above the map (siteOverlay.ts
// says why), incidents with their impact circles, travellers at risk and
// protection details' last positions.
import 'maplibre-gl/dist/maplibre-gl.css';
import maplibregl from 'maplibre-gl/dist/maplibre-gl-csp.js';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-csp-worker.js?url';
import type {
  ExpressionSpecification,
  GeoJSONSource,
  Map as MapLibreMap,
  MapLayerMouseEvent,
  MapMouseEvent,
  StyleSpecification,
} from 'maplibre-gl';
import type { Feature, FeatureCollection, Point, Polygon } from 'geojson';
import { hook, mark, recordPainted, setOverlayChecker, setRenderedCountryReader, setRenderedSiteReader, type PaintedSite } from '../hook';
import type { BoardState, SiteChange } from '../state/board';
import { countryFeatures, distanceKm, geodesicCircle } from './geo';
import { advisoryColour, advisoryNeutral, allMapImages, mapImagePixelRatio } from './icons';
import { SiteOverlay } from './siteOverlay';

maplibregl.setWorkerUrl(workerUrl);

const emptyCollection: FeatureCollection = { type: 'FeatureCollection', features: [] };

const advisoryFill: ExpressionSpecification = [
  'match',
  ['coalesce', ['feature-state', 'level'], 0],
  1, advisoryColour[1] ?? advisoryNeutral,
  2, advisoryColour[2] ?? advisoryNeutral,
  3, advisoryColour[3] ?? advisoryNeutral,
  4, advisoryColour[4] ?? advisoryNeutral,
  advisoryNeutral,
];

function offlineStyle(): StyleSpecification {
  return {
    version: 8,
    name: 'Meridian offline',
    sources: {
      countries: { type: 'geojson', data: countryFeatures(), promoteId: 'code' },
      incidents: { type: 'geojson', data: emptyCollection },
      search: { type: 'geojson', data: emptyCollection },
      travellers: { type: 'geojson', data: emptyCollection },
      details: { type: 'geojson', data: emptyCollection },
    },
    layers: [
      { id: 'background', type: 'background', paint: { 'background-color': '#070b10' } },
      { id: 'countries-fill', type: 'fill', source: 'countries', paint: { 'fill-color': advisoryFill, 'fill-opacity': 1 } },
      { id: 'countries-line', type: 'line', source: 'countries', paint: { 'line-color': '#4b5d73', 'line-width': 0.7 } },
      {
        id: 'incident-fill',
        type: 'fill',
        source: 'incidents',
        filter: ['==', ['geometry-type'], 'Polygon'],
        paint: { 'fill-color': '#ff4fa3', 'fill-opacity': 0.16 },
      },
      {
        id: 'incident-line',
        type: 'line',
        source: 'incidents',
        filter: ['==', ['geometry-type'], 'Polygon'],
        paint: { 'line-color': '#ff4fa3', 'line-width': 1.5, 'line-dasharray': [3, 2] },
      },
      {
        id: 'search-fill',
        type: 'fill',
        source: 'search',
        filter: ['==', ['geometry-type'], 'Polygon'],
        paint: { 'fill-color': '#3cc7f5', 'fill-opacity': 0.1 },
      },
      {
        id: 'search-line',
        type: 'line',
        source: 'search',
        filter: ['==', ['geometry-type'], 'Polygon'],
        paint: { 'line-color': '#3cc7f5', 'line-width': 2 },
      },
      {
        id: 'incidents',
        type: 'symbol',
        source: 'incidents',
        filter: ['==', ['geometry-type'], 'Point'],
        // Offsets: the sites' overlay is drawn above every MapLibre layer,
        // and an incident, a traveller or a detail is often at a site: each
        // sits beside the point, on its own side, so the site's icon never
        // hides it.
        layout: { 'icon-image': 'incident', 'icon-allow-overlap': true, 'icon-ignore-placement': true, 'icon-offset': [14, -14] },
      },
      {
        id: 'travellers',
        type: 'symbol',
        source: 'travellers',
        layout: { 'icon-image': 'traveller', 'icon-allow-overlap': true, 'icon-ignore-placement': true, 'icon-anchor': 'bottom', 'icon-offset': [-14, -8] },
      },
      {
        id: 'details',
        type: 'symbol',
        source: 'details',
        layout: { 'icon-image': 'detail', 'icon-allow-overlap': true, 'icon-ignore-placement': true, 'icon-offset': [14, 14] },
      },
    ],
  };
}

/** Where people and sites are: the world without the polar seas. */
const worldBounds: [[number, number], [number, number]] = [
  [-165, -50],
  [175, 72],
];

export class BoardMap {
  private readonly map: MapLibreMap;
  private readonly disposers: (() => void)[] = [];
  private readonly sites: SiteOverlay;
  /** Changes waiting for the next frame: site code → the change. */
  private readonly pending = new Map<string, SiteChange>();
  private frame = 0;
  private sitesLoaded = false;
  private drawnOnce = false;
  private styleReady = false;
  private countryLevelsShown = new Map<string, number>();
  /** Until someone pans or zooms, the map keeps the whole world in view as it resizes. */
  private movedByUser = false;

  constructor(
    container: HTMLElement,
    private readonly state: BoardState,
    private readonly onDrawn: () => void,
  ) {
    this.map = new maplibregl.Map({
      container,
      style: offlineStyle(),
      bounds: worldBounds,
      fitBoundsOptions: { padding: 8 },
      minZoom: 0,
      maxZoom: 14,
      attributionControl: false,
      dragRotate: false,
      pitchWithRotate: false,
      touchPitch: false,
      // The board is a wall display: it must not fade tiles in slowly.
      fadeDuration: 0,
      // One world: the site overlay draws each site once, where it is.
      renderWorldCopies: false,
    });
    this.sites = new SiteOverlay(this.map);
    this.map.touchZoomRotate.disableRotation();
    this.map.keyboard.disableRotation();
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-left');
    this.map.addControl(new maplibregl.AttributionControl({ compact: true, customAttribution: 'Natural Earth (world-atlas)' }), 'bottom-left');
    this.map.getCanvas().setAttribute('aria-label', 'Map of sites, incidents, travellers and protection details');

    this.map.on('movestart', (event) => {
      if ((event as { originalEvent?: Event }).originalEvent) this.movedByUser = true;
    });
    this.map.on('load', () => this.onStyleLoaded());
    // The camera moved: the overlay follows in the same frame as the map.
    this.map.on('move', () => this.sites.invalidateProjection());
    this.map.on('resize', () => this.sites.invalidateSize());
    this.map.on('render', () => {
      if (this.styleReady && this.sitesLoaded) this.drawSites();
    });
    setRenderedSiteReader((code) => this.sites.rendered(code));
    setOverlayChecker(() => this.sites.pixelsOffFullRedraw());
    setRenderedCountryReader((code) => {
      if (!this.styleReady) return 0;
      const level: unknown = this.map.getFeatureState({ source: 'countries', id: code }).level;
      return typeof level === 'number' ? level : 0;
    });
  }

  dispose(): void {
    cancelAnimationFrame(this.frame);
    for (const dispose of this.disposers) dispose();
    setRenderedSiteReader(() => null);
    setRenderedCountryReader(() => 0);
    setOverlayChecker(() => 0);
    this.sites.dispose();
    this.map.remove();
  }

  resize(): void {
    this.map.resize();
    if (!this.movedByUser) this.map.fitBounds(worldBounds, { padding: 8, animate: false });
  }

  private onStyleLoaded(): void {
    mark('map');
    for (const { name, image } of allMapImages()) {
      this.map.addImage(name, image, { pixelRatio: mapImagePixelRatio });
    }
    this.styleReady = true;

    const state = this.state;
    this.disposers.push(state.onSitesLoaded(() => this.loadAllSites()));
    this.disposers.push(state.onSiteChanges((changes) => this.queue(changes)));
    this.disposers.push(state.countryLevels.subscribe(() => this.shadeCountries()));
    this.shadeCountries();
    const incidents = () => this.drawIncidents();
    this.disposers.push(state.escalations.subscribe(incidents), state.impactRadii.subscribe(incidents));
    incidents();
    this.disposers.push(state.travellers.subscribe(() => this.drawTravellers()));
    this.drawTravellers();
    this.disposers.push(state.details.subscribe(() => this.drawDetails()));
    this.drawDetails();
    const search = () => this.drawSearch(null);
    this.disposers.push(state.people.subscribe(search), state.drawMode.subscribe(search));
    this.disposers.push(state.focus.subscribe(({ code }) => this.focusSite(code)));

    this.map.on('click', (event) => this.onClick(event));
    this.map.on('mousemove', (event) => this.onMouseMove(event));
  }

  // --- sites -----------------------------------------------------------------

  private source(id: string): GeoJSONSource {
    const source = this.map.getSource<GeoJSONSource>(id);
    if (!source) throw new Error(`map source ${id} missing`);
    return source;
  }

  private loadAllSites(): void {
    this.pending.clear();
    this.sites.setAll(this.state.sites.values());
    this.sitesLoaded = true;
    // Now, not at the next frame: after the map's first render that frame
    // can be long in coming, and the sites are what the board is for.
    this.drawSites();
  }

  private queue(changes: SiteChange[]): void {
    for (const change of changes) this.pending.set(change.code, change);
    if (this.sitesLoaded) this.schedule();
  }

  private schedule(): void {
    if (this.frame === 0) this.frame = requestAnimationFrame(() => this.drawSites());
  }

  /**
   * Once per frame at most: every change since the last frame, then the
   * whole overlay. The painted stamps are taken after the canvas holds the
   * new pixels; the compositor shows them with this frame.
   */
  private drawSites(): void {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (!this.styleReady || !this.sitesLoaded) return;
    const entries: PaintedSite[] = [];
    for (const { code, status } of this.pending.values()) {
      if (this.sites.update(code, status, this.state.sites.get(code))) entries.push({ code, version: status.version, at: 0 });
    }
    this.pending.clear();
    this.sites.draw();
    hook.siteCount = this.sites.size;
    if (entries.length > 0) {
      const at = Date.now();
      for (const entry of entries) entry.at = at;
      recordPainted(entries);
    }
    if (!this.drawnOnce) {
      this.drawnOnce = true;
      mark('drawn');
      this.onDrawn();
    }
  }

  // --- countries -------------------------------------------------------------

  private shadeCountries(): void {
    const levels = this.state.countryLevels.get();
    for (const [code, level] of levels) {
      if (this.countryLevelsShown.get(code) !== level) this.map.setFeatureState({ source: 'countries', id: code }, { level });
    }
    for (const code of this.countryLevelsShown.keys()) {
      if (!levels.has(code)) this.map.removeFeatureState({ source: 'countries', id: code }, 'level');
    }
    this.countryLevelsShown = new Map(levels);
  }

  // --- incidents, travellers, details ---------------------------------------------

  private drawIncidents(): void {
    const radii = this.state.impactRadii.get();
    const radiusOf = (kind: string): number | undefined =>
      radii.find((r) => r.kind === kind && r.assetType === 'SITE')?.radiusKm ??
      radii.find((r) => r.kind === '*' && r.assetType === 'SITE')?.radiusKm;
    const features: Feature[] = [];
    const seen = new Set<string>();
    for (const escalation of this.state.escalations.get().values()) {
      const incident = escalation.incident;
      if (!incident?.location || seen.has(incident.id)) continue;
      seen.add(incident.id);
      const { latitude, longitude } = incident.location;
      const radiusKm = radiusOf(incident.kind);
      const properties = { id: incident.id, title: incident.title, kind: incident.kind, radiusKm: radiusKm ?? 0 };
      if (radiusKm && radiusKm > 0) {
        features.push({ type: 'Feature', geometry: geodesicCircle(latitude, longitude, radiusKm), properties });
      }
      features.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [longitude, latitude] }, properties });
    }
    this.source('incidents').setData({ type: 'FeatureCollection', features });
  }

  private drawTravellers(): void {
    const features: Feature<Point>[] = this.state.travellers.get().map((t) => ({
      type: 'Feature',
      geometry: { type: 'Point', coordinates: [t.longitude, t.latitude] },
      properties: { name: t.name, level: t.level, city: t.city, tripId: t.tripId },
    }));
    this.source('travellers').setData({ type: 'FeatureCollection', features });
  }

  private drawDetails(): void {
    const features: Feature<Point>[] = [];
    for (const detail of this.state.details.get().values()) {
      // null: the caller is not cleared to see where the detail is.
      if (detail.status !== 'ACTIVE' || !detail.lastPosition) continue;
      features.push({
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [detail.lastPosition.longitude, detail.lastPosition.latitude] },
        properties: { id: detail.id, protectee: detail.protectee.name, at: detail.lastPosition.at },
      });
    }
    this.source('details').setData({ type: 'FeatureCollection', features });
  }

  // --- the people search: a clicked country or a drawn radius ---------------------

  private drawSearch(edge: { latitude: number; longitude: number } | null): void {
    const features: Feature<Polygon | Point>[] = [];
    const mode = this.state.drawMode.get();
    const target = this.state.people.get();
    if (mode.step === 'edge') {
      features.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [mode.longitude, mode.latitude] }, properties: {} });
      if (edge) {
        const radiusKm = distanceKm(mode.latitude, mode.longitude, edge.latitude, edge.longitude);
        if (radiusKm > 0) features.push({ type: 'Feature', geometry: geodesicCircle(mode.latitude, mode.longitude, radiusKm), properties: {} });
      }
    } else if (target?.kind === 'radius') {
      features.push({ type: 'Feature', geometry: geodesicCircle(target.latitude, target.longitude, target.radiusKm), properties: {} });
    }
    this.source('search').setData({ type: 'FeatureCollection', features });
  }

  private onMouseMove(event: MapMouseEvent): void {
    const mode = this.state.drawMode.get();
    if (mode.step === 'edge') this.drawSearch({ latitude: event.lngLat.lat, longitude: event.lngLat.lng });
    if (mode.step !== 'off') this.map.getCanvas().style.cursor = 'crosshair';
    else this.map.getCanvas().style.cursor = this.sites.hit(event.point.x, event.point.y) ? 'pointer' : '';
  }

  private onClick(event: MapMouseEvent | MapLayerMouseEvent): void {
    const mode = this.state.drawMode.get();
    const { lat, lng } = event.lngLat.wrap();
    if (mode.step === 'centre') {
      this.state.drawMode.set({ step: 'edge', latitude: lat, longitude: lng });
      return;
    }
    if (mode.step === 'edge') {
      const radiusKm = Math.max(1, Math.round(distanceKm(mode.latitude, mode.longitude, lat, lng)));
      this.state.drawMode.set({ step: 'off' });
      this.state.people.set({ kind: 'radius', latitude: mode.latitude, longitude: mode.longitude, radiusKm });
      return;
    }
    const code = this.sites.hit(event.point.x, event.point.y);
    if (code) {
      this.state.openSite(code);
      return;
    }
    const country = this.map.queryRenderedFeatures(event.point, { layers: ['countries-fill'] })[0];
    const countryCode = country?.properties?.code;
    if (typeof countryCode === 'string' && !countryCode.startsWith('unknown-')) {
      const name = typeof country?.properties?.name === 'string' ? country.properties.name : countryCode;
      this.state.people.set({ kind: 'country', code: countryCode, name });
    }
  }

  /** Centre the map on a site (from the list), keeping the zoom unless it is too far out. */
  focusSite(code: string): void {
    const site = this.state.sites.get(code);
    if (!site) return;
    this.movedByUser = true;
    this.map.easeTo({
      center: [site.location.longitude, site.location.latitude],
      zoom: Math.max(this.map.getZoom(), 3),
      duration: 600,
    });
  }
}
