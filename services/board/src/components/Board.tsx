import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Viewer } from '../api/types';
import { hook, mark } from '../hook';
import { BoardState } from '../state/board';
import { useStore } from '../state/store';
import { AdvisoryFeed } from './AdvisoryFeed';
import { ConnectionBanner } from './ConnectionBanner';
import { EscalationPanel } from './EscalationPanel';
import { EscalationsPanel } from './EscalationsPanel';
import { Legend } from './Legend';
import { MapView } from './MapView';
import { PeoplePanel } from './PeoplePanel';
import { SiteList } from './SiteList';
import { SitePanel } from './SitePanel';

/** The longest the map waits for the sites before starting anyway. */
const mapStartLimitMs = 1_500;

interface Props {
  token: string;
  me: Viewer;
  onSignOut: () => void;
  onTokenRefused: () => void;
}

export function Board({ token, me, onSignOut, onTokenRefused }: Props) {
  const state = useMemo(() => new BoardState(token, me, onTokenRefused), [token]);
  const mapDrawnNow = useRef(false);
  const [mapStarted, setMapStarted] = useState(false);
  const loaded = useStore(state.loaded);
  const selection = useStore(state.selection);
  const problem = useStore(state.problem);

  useEffect(() => {
    const stop = state.live.connection.subscribe((connection) => {
      hook.connection = connection;
    });
    hook.connection = state.live.connection.get();
    mark('signed-in');
    state.start();
    return () => {
      stop();
      state.dispose();
    };
  }, [state]);

  // The map starts once the sites are in, or after mapStartLimitMs, whichever
  // comes first. Its start-up is long, blocking work on the page's only
  // thread (WebGL set-up, very slow without a GPU): started at once, it
  // stalls every page of sites behind it: with 5,000 sites the first
  // complete render took 1.95-2.03 s that way and 1.81-1.90 s loading the
  // sites first (scripts/bench.sh -parts board -quick -board-loads 3).
  useEffect(() => {
    if (mapStarted) return undefined;
    if (loaded.sites) {
      setMapStarted(true);
      return undefined;
    }
    const timer = setTimeout(() => setMapStarted(true), mapStartLimitMs);
    return () => clearTimeout(timer);
  }, [mapStarted, loaded.sites]);

  // Ready once, the first time everything is loaded and on screen: checked
  // after each render that follows a load (the panels are drawn by then),
  // and at once when the map draws its sites, usually the last step (a
  // render more would only add a frame to the measured first render).
  const markReady = () => {
    const done = state.loaded.get();
    if (hook.ready || !mapDrawnNow.current || !done.sites || !done.escalations || !done.countries) return;
    hook.firstRenderAt = performance.now();
    hook.ready = true;
  };
  useEffect(markReady, [loaded]);
  const onMapDrawn = () => {
    mapDrawnNow.current = true;
    markReady();
  };

  // Focus follows the side panel: into it when one opens (after up to 200
  // site rows, the map and the legend in tab order, it is otherwise far
  // away), and back to what opened it when the last one closes.
  const opener = useRef<HTMLElement | null>(null);
  const opened = selection ? (selection.kind === 'site' ? `site:${selection.code}` : `escalation:${selection.id}`) : null;
  useEffect(() => {
    if (opened) {
      const active = document.activeElement;
      if (!opener.current && active instanceof HTMLElement && active !== document.body) opener.current = active;
      document.querySelector<HTMLElement>('.side-panel')?.focus();
    } else if (opener.current) {
      if (opener.current.isConnected) opener.current.focus();
      opener.current = null;
    }
  }, [opened]);

  // Escape closes the side panel.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== 'Escape') return;
      // Escape in a field belongs to the field: closing the panel there
      // would throw away a note or a status being typed.
      if (event.target instanceof Element && event.target.closest('input, textarea, select')) return;
      if (state.drawMode.get().step !== 'off') state.drawMode.set({ step: 'off' });
      else if (state.selection.get()) state.closePanel();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [state]);

  return (
    <div class="board">
      <header class="topbar">
        <h1 class="brand">
          Meridian <span class="muted">GSOC</span>
        </h1>
        <ConnectionBanner state={state} />
        <div class="viewer">
          <span class="viewer-name">{me.name}</span>
          <span class="muted">
            {me.roles.join(', ')}
            {me.regions.length ? ` · ${me.regions.join(', ')}` : ''}
          </span>
          <a class="button-link" href="/graphql">
            GraphiQL
          </a>
          <button type="button" data-testid="signout" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      {problem && (
        <div class="problem" role="alert">
          {problem}
          <button type="button" class="icon" aria-label="Dismiss this message" onClick={() => state.problem.set(null)}>
            ×
          </button>
        </div>
      )}
      <div class="columns">
        <aside class="column left" aria-label="Sites">
          <SiteList state={state} />
        </aside>
        <main class="column centre">
          {mapStarted ? (
            <MapView state={state} onDrawn={onMapDrawn} />
          ) : (
            <div class="map-wrap" data-testid="map-waiting">
              <p class="map-hint" role="status">
                Loading sites…
              </p>
            </div>
          )}
          <Legend />
          {selection?.kind === 'site' && <SitePanel key={selection.code} state={state} code={selection.code} />}
          {selection?.kind === 'escalation' && <EscalationPanel key={selection.id} state={state} id={selection.id} />}
        </main>
        <aside class="column right" aria-label="Escalations, advisories and people">
          <EscalationsPanel state={state} />
          <AdvisoryFeed state={state} />
          <PeoplePanel state={state} />
        </aside>
      </div>
    </div>
  );
}
