import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../api/client';
import * as doc from '../api/documents';
import { dispositions, type Disposition, type Escalation, type EscalationDetail } from '../api/types';
import type { BoardState } from '../state/board';
import { formatAge, whoIsPaged } from '../state/escalations';
import { useStore } from '../state/store';
import { PanelClose } from './SitePanel';
import { formatTime, newMutationId } from './time';

type Action = 'acknowledge' | 'resolve' | 'escalate' | 'handoff' | 'note';

const mutationOf: Record<Action, { document: string; field: string }> = {
  acknowledge: { document: doc.acknowledgeMutation, field: 'acknowledgeEscalation' },
  resolve: { document: doc.resolveMutation, field: 'resolveEscalation' },
  escalate: { document: doc.escalateNowMutation, field: 'escalateNow' },
  handoff: { document: doc.handOffMutation, field: 'handOffEscalation' },
  note: { document: doc.addNoteMutation, field: 'addEscalationNote' },
};

/** One escalation: its full timeline, live, and what the viewer may do. */
export function EscalationPanel({ state, id }: { state: BoardState; id: string }) {
  const regions = useStore(state.regions);
  const now = useStore(state.now);
  const [escalation, setEscalation] = useState<EscalationDetail | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [busy, setBusy] = useState<Action | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [disposition, setDisposition] = useState<Disposition>('IMPACT');
  const [handOffTo, setHandOffTo] = useState('');
  const [note, setNote] = useState('');
  const latestLoad = useRef(0);

  const load = async () => {
    const ticket = ++latestLoad.current;
    try {
      const data = await state.request<{ escalation: EscalationDetail | null }>(doc.escalationPanelQuery, { id });
      if (ticket !== latestLoad.current) return; // an older answer arriving late
      if (!data.escalation) {
        setLoadError('This escalation does not exist or is not visible to you.');
        return;
      }
      setEscalation(data.escalation);
      setLoadError(null);
    } catch (err) {
      if (ticket === latestLoad.current) setLoadError(errorText(err));
    }
  };

  useEffect(() => {
    void load();
  }, [id]);

  // Live: every event about this escalation reloads it (with viewerCan,
  // which can change), at most every 100 ms. Listened to directly, so that
  // events about other escalations (a busy incident has many) never cancel
  // a reload this one is owed.
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = state.escalationEvents.subscribe((event) => {
      if (event.id !== id || timer !== undefined) return;
      timer = setTimeout(() => {
        timer = undefined;
        void load();
      }, 100);
    });
    return () => {
      stop();
      clearTimeout(timer);
    };
  }, [state, id]);

  const act = async (action: Action, extra: Record<string, unknown> = {}) => {
    setBusy(action);
    setActionError(null);
    const input: Record<string, unknown> = { escalationId: id, clientMutationId: newMutationId() };
    if (action === 'acknowledge') input.disposition = disposition;
    if (action === 'note') input.note = note;
    Object.assign(input, extra);
    try {
      const { document, field } = mutationOf[action];
      const data = await state.request<Record<string, { escalation: Escalation }>>(document, { input });
      const updated = data[field]?.escalation;
      if (updated) state.acceptEscalation(updated);
      if (action === 'note') setNote('');
      await load();
    } catch (err) {
      setActionError(errorText(err));
    } finally {
      setBusy(null);
    }
  };

  if (!escalation) {
    return (
      <section class="side-panel" tabIndex={-1} data-testid="escalation-panel" aria-label="Escalation">
        <PanelClose state={state} />
        {loadError ? (
          <p class="error" role="alert">
            {loadError}
          </p>
        ) : (
          <p class="muted">Loading…</p>
        )}
      </section>
    );
  }

  const can = escalation.viewerCan;
  const paged = whoIsPaged(escalation);
  const otherRegions = regions.filter((region) => region.code !== escalation.region.code);
  const handOffRegion = handOffTo || otherRegions[0]?.code || '';
  const anyAction = can.acknowledge || can.resolve || can.escalateNow || can.handOff || can.addNote;

  return (
    <section class="side-panel" tabIndex={-1} data-testid="escalation-panel" aria-labelledby="escalation-panel-heading">
      <PanelClose state={state} />
      <h2 id="escalation-panel-heading">
        <span class={`severity-badge ${escalation.severity}`}>{escalation.severity}</span>{' '}
        <span data-testid="escalation-status">{escalation.status}</span>
      </h2>
      <p>
        {escalation.site ? (
          <button type="button" class="link" onClick={() => escalation.site && state.openSite(escalation.site.code)}>
            {escalation.site.code} {escalation.site.name}
          </button>
        ) : (
          escalation.incident?.title
        )}
      </p>
      <dl class="status-grid">
        <dt>Region</dt>
        <dd>{escalation.region.name}</dd>
        <dt>Tier</dt>
        <dd data-testid="escalation-tier">{escalation.tier}</dd>
        <dt>Paged</dt>
        <dd>{paged.length ? paged.join(', ') : '—'}</dd>
        <dt>Age</dt>
        <dd>
          {formatAge(escalation.startedAt, now)} (since {formatTime(escalation.startedAt)})
        </dd>
        {escalation.acknowledgedBy && (
          <>
            <dt>Acknowledged by</dt>
            <dd>{escalation.acknowledgedBy}</dd>
          </>
        )}
        {escalation.disposition && (
          <>
            <dt>Disposition</dt>
            <dd>{escalation.disposition}</dd>
          </>
        )}
        <dt>Policy</dt>
        <dd>
          {escalation.policy.name} v{escalation.policy.version}
        </dd>
        {escalation.incident && (
          <>
            <dt>Incident</dt>
            <dd>
              {escalation.incident.title} ({escalation.incident.kind})
            </dd>
          </>
        )}
      </dl>

      {anyAction && (
        <div class="actions" aria-label="Actions">
          {can.acknowledge && (
            <div class="action-row">
              <label>
                Disposition
                <select data-testid="ack-disposition" value={disposition} onChange={(event) => setDisposition((event.target as HTMLSelectElement).value as Disposition)}>
                  {dispositions.map((value) => (
                    <option key={value} value={value}>
                      {value.replace('_', ' ').toLowerCase()}
                    </option>
                  ))}
                </select>
              </label>
              <button type="button" data-testid="action-acknowledge" disabled={busy !== null} onClick={() => void act('acknowledge')}>
                {busy === 'acknowledge' ? 'Acknowledging…' : 'Acknowledge'}
              </button>
            </div>
          )}
          {(can.resolve || can.escalateNow) && (
            <div class="action-row">
              {can.escalateNow && (
                <button type="button" data-testid="action-escalate" disabled={busy !== null} onClick={() => void act('escalate')}>
                  {busy === 'escalate' ? 'Escalating…' : 'Escalate now'}
                </button>
              )}
              {can.resolve && (
                <button type="button" data-testid="action-resolve" disabled={busy !== null} onClick={() => void act('resolve')}>
                  {busy === 'resolve' ? 'Resolving…' : 'Resolve'}
                </button>
              )}
            </div>
          )}
          {can.handOff && otherRegions.length > 0 && (
            <div class="action-row">
              <label>
                Hand off to
                <select data-testid="handoff-region" value={handOffRegion} onChange={(event) => setHandOffTo((event.target as HTMLSelectElement).value)}>
                  {otherRegions.map((region) => (
                    <option key={region.code} value={region.code}>
                      {region.code} — {region.name}
                    </option>
                  ))}
                </select>
              </label>
              <button
                type="button"
                data-testid="action-handoff"
                disabled={busy !== null || handOffRegion === ''}
                onClick={() => void act('handoff', { toRegion: handOffRegion })}
              >
                {busy === 'handoff' ? 'Handing off…' : 'Hand off'}
              </button>
            </div>
          )}
          {can.addNote && (
            <div class="action-row note-row">
              <label>
                Note
                <textarea data-testid="note-input" rows={2} maxLength={2000} value={note} onInput={(event) => setNote((event.target as HTMLTextAreaElement).value)} />
              </label>
              <button type="button" data-testid="action-note" disabled={busy !== null || note.trim() === ''} onClick={() => void act('note')}>
                {busy === 'note' ? 'Adding…' : 'Add note'}
              </button>
            </div>
          )}
          {actionError && (
            <p class="error" data-testid="action-error" role="alert">
              {actionError}
            </p>
          )}
        </div>
      )}
      {!anyAction && <p class="muted">You may not act on this escalation.</p>}

      <h3>Timeline</h3>
      <ol class="timeline" data-testid="timeline">
        {escalation.timeline.map((entry, index) => (
          <li key={index} class={`timeline-entry kind-${entry.kind}`} data-testid="timeline-entry" data-kind={entry.kind}>
            <span class="timeline-kind">{entry.kind.replace('_', ' ')}</span>
            <span class="muted"> {formatTime(entry.at)}</span>
            <div class="timeline-detail">
              {entry.actor && <span>by {entry.actor}</span>}
              {entry.tier !== null && <span> · tier {entry.tier}</span>}
              {entry.recipient && <span> · to {entry.recipient}</span>}
              {entry.channel && <span> · {entry.channel}</span>}
            </div>
            {entry.note && <div class="timeline-note">{entry.note}</div>}
          </li>
        ))}
      </ol>
    </section>
  );
}
