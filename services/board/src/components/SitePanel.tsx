import { useEffect, useState } from 'preact/hooks';
import { APIError, errorText } from '../api/client';
import { sitePanelQuery, updateSiteStatusMutation } from '../api/documents';
import { postures, statusLevels, type Escalation, type Posture, type Site, type SiteStatus, type StatusLevel } from '../api/types';
import type { BoardState } from '../state/board';
import { useStore } from '../state/store';
import { siteIconURL } from './icons';
import { formatTime, newMutationId } from './time';

interface PanelSite extends Site {
  viewerCanUpdateStatus: boolean;
  statusHistory: { edges: { node: SiteStatus }[] };
}

type Outcome =
  | { kind: 'saved'; version: number; escalation: Escalation | null }
  | { kind: 'conflict'; current: SiteStatus }
  | { kind: 'error'; text: string };

export function SitePanel({ state, code }: { state: BoardState; code: string }) {
  useStore(state.sitesRevision);
  useStore(state.escalations);
  const live = state.sites.get(code);
  const [panel, setPanel] = useState<PanelSite | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);

  // The form: what the person is about to set, on top of which version.
  const [level, setLevel] = useState<StatusLevel>('NORMAL');
  const [posture, setPosture] = useState<Posture>('OPEN');
  const [note, setNote] = useState('');
  const [baseVersion, setBaseVersion] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);

  const load = async (): Promise<PanelSite | null> => {
    if (!live) return null;
    try {
      const data = await state.request<{ site: PanelSite | null }>(sitePanelQuery, { id: live.id });
      if (!data.site) {
        setLoadError('This site no longer exists.');
        return null;
      }
      state.acceptSite(data.site);
      setPanel(data.site);
      setLoadError(null);
      return data.site;
    } catch (err) {
      setLoadError(errorText(err));
      return null;
    }
  };

  // First load: the form starts from the current status.
  useEffect(() => {
    void load().then((site) => {
      if (!site) return;
      setLevel(site.status.level);
      setPosture(site.status.posture);
      setBaseVersion(site.status.version);
    });
  }, [code, live?.id]);

  // A live change: refresh the history (the form keeps what was typed).
  const liveVersion = live?.status.version;
  useEffect(() => {
    if (panel && liveVersion !== undefined && liveVersion > panel.status.version) {
      const timer = setTimeout(() => void load(), 150);
      return () => clearTimeout(timer);
    }
    return undefined;
  }, [liveVersion]);

  if (!live) {
    return (
      <section class="side-panel" tabIndex={-1} data-testid="site-panel" aria-label="Site">
        <PanelClose state={state} />
        <p class="muted">Unknown site {code}.</p>
      </section>
    );
  }

  const status = live.status;
  const escalation = state.escalationOfSite(code);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (baseVersion === null) return;
    setBusy(true);
    setOutcome(null);
    try {
      const data = await state.request<{ updateSiteStatus: { site: Site; escalation: Escalation | null } }>(updateSiteStatusMutation, {
        input: {
          siteId: live.id,
          level,
          posture,
          note: note.trim() === '' ? null : note,
          expectedVersion: baseVersion,
          clientMutationId: newMutationId(),
        },
      });
      const { site, escalation: opened } = data.updateSiteStatus;
      state.acceptSite(site);
      if (opened) state.acceptEscalation(opened);
      setBaseVersion(site.status.version);
      setNote('');
      setOutcome({ kind: 'saved', version: site.status.version, escalation: opened });
      void load();
    } catch (err) {
      if (err instanceof APIError && err.code === 'CONFLICT') {
        // Show what the other person set, and let this one retry on top of it.
        const fresh = await load();
        const current = fresh?.status ?? state.sites.get(code)?.status ?? status;
        setBaseVersion(current.version);
        setOutcome({ kind: 'conflict', current });
      } else {
        setOutcome({ kind: 'error', text: errorText(err) });
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="side-panel" tabIndex={-1} data-testid="site-panel" aria-labelledby="site-panel-heading">
      <PanelClose state={state} />
      <h2 id="site-panel-heading">
        <img src={siteIconURL(status.level, status.posture)} alt="" width={28} height={28} /> {live.code}
        <span class="muted"> {live.name}</span>
      </h2>
      <p class="muted">
        {live.city}, {live.countryCode} · {live.region.code} · criticality {live.criticality}
      </p>
      <dl class="status-grid">
        <dt>Level</dt>
        <dd data-testid="site-level" class={`level-text level-${status.level}`}>
          {status.level}
        </dd>
        <dt>Posture</dt>
        <dd data-testid="site-posture">{status.posture}</dd>
        <dt>Version</dt>
        <dd data-testid="site-version">{status.version}</dd>
        <dt>Changed</dt>
        <dd>
          {formatTime(status.updatedAt)} by {status.updatedBy || '—'}
        </dd>
        <dt>Note</dt>
        <dd data-testid="site-note">{status.note || <span class="muted">none</span>}</dd>
      </dl>
      <button type="button" class="secondary" onClick={() => state.focus.set({ code, seq: state.focus.get().seq + 1 })}>
        Show on map
      </button>

      {escalation && (
        <p class="site-escalation">
          Open escalation:{' '}
          <button type="button" class="link" data-testid="site-escalation-link" onClick={() => state.openEscalation(escalation.id)}>
            {escalation.severity} · {escalation.status} · tier {escalation.tier} · {escalation.region.code}
          </button>
        </p>
      )}

      {loadError && (
        <p class="error" role="alert">
          {loadError}
        </p>
      )}

      {panel?.viewerCanUpdateStatus && (
        <form class="status-form" data-testid="status-form" onSubmit={(event) => void submit(event)}>
          <h3>Change status</h3>
          <div class="form-row">
            <label>
              Level
              <select data-testid="status-level" value={level} onChange={(event) => setLevel((event.target as HTMLSelectElement).value as StatusLevel)}>
                {statusLevels.map((value) => (
                  <option key={value} value={value}>
                    {value}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Posture
              <select data-testid="status-posture" value={posture} onChange={(event) => setPosture((event.target as HTMLSelectElement).value as Posture)}>
                {postures.map((value) => (
                  <option key={value} value={value}>
                    {value}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <label>
            Note
            <textarea data-testid="status-note" rows={2} maxLength={2000} value={note} onInput={(event) => setNote((event.target as HTMLTextAreaElement).value)} />
          </label>
          {baseVersion !== null && baseVersion !== status.version && outcome?.kind !== 'conflict' && (
            <p class="notice">This site changed while you were editing (now version {status.version}); your change is based on version {baseVersion}.</p>
          )}
          <button type="submit" data-testid="status-submit" disabled={busy || baseVersion === null}>
            {busy ? 'Saving…' : `Set status (from version ${baseVersion ?? '…'})`}
          </button>
          {outcome?.kind === 'conflict' && (
            <div class="conflict" data-testid="status-conflict" role="alert">
              Someone else changed this site; here is the new status: {outcome.current.level} / {outcome.current.posture} (version{' '}
              {outcome.current.version}, by {outcome.current.updatedBy || 'unknown'} at {formatTime(outcome.current.updatedAt)}). Check it, then
              submit again to set yours on top of version {outcome.current.version}.
            </div>
          )}
          {outcome?.kind === 'error' && (
            <p class="error" data-testid="status-error" role="alert">
              {outcome.text}
            </p>
          )}
          {outcome?.kind === 'saved' && (
            <p class="success" role="status">
              Saved as version {outcome.version}
              {outcome.escalation ? `; escalation ${outcome.escalation.severity} ${outcome.escalation.status}` : ''}.
            </p>
          )}
        </form>
      )}
      {panel && !panel.viewerCanUpdateStatus && <p class="muted">You may not change this site's status.</p>}

      <h3>History</h3>
      <ol class="history" data-testid="site-history">
        {panel?.statusHistory.edges.map(({ node }) => (
          <li key={node.version}>
            <span class={`level-text level-${node.level}`}>{node.level}</span> · {node.posture} · v{node.version}
            <span class="muted">
              {' '}
              {formatTime(node.updatedAt)} {node.updatedBy}
            </span>
            {node.note && <div class="history-note">{node.note}</div>}
          </li>
        ))}
      </ol>
    </section>
  );
}

export function PanelClose({ state }: { state: BoardState }) {
  return (
    <button type="button" class="icon close" aria-label="Close panel" onClick={() => state.closePanel()}>
      ×
    </button>
  );
}
