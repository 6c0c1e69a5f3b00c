import { useMemo } from 'preact/hooks';
import type { BoardState } from '../state/board';
import { compareEscalations, formatAge, whoIsPaged } from '../state/escalations';
import { useStore } from '../state/store';

/** Open and acknowledged escalations, most severe first, then newest. */
export function EscalationsPanel({ state }: { state: BoardState }) {
  const escalations = useStore(state.escalations);
  const loaded = useStore(state.loaded);
  const selection = useStore(state.selection);
  const now = useStore(state.now);
  const sorted = useMemo(() => [...escalations.values()].sort(compareEscalations), [escalations]);
  const selected = selection?.kind === 'escalation' ? selection.id : null;

  return (
    <section class="panel escalations" data-testid="escalations-panel" aria-labelledby="escalations-heading">
      <div class="panel-head">
        <h2 id="escalations-heading">Escalations</h2>
        <span class="muted" aria-live="polite">
          {loaded.escalations ? `${sorted.filter((e) => e.status === 'OPEN').length} open · ${sorted.length} total` : 'loading…'}
        </span>
      </div>
      {loaded.escalations && sorted.length === 0 && <p class="muted">Nothing open.</p>}
      <ul class="rows">
        {sorted.map((escalation) => {
          const paged = whoIsPaged(escalation);
          const subject = escalation.site ? `${escalation.site.code} ${escalation.site.name}` : (escalation.incident?.title ?? 'incident');
          return (
            <li key={escalation.id}>
              <button
                type="button"
                class={`escalation-row ${escalation.severity} ${escalation.status}${selected === escalation.id ? ' selected' : ''}`}
                data-testid={`escalation-row-${escalation.id}`}
                data-status={escalation.status}
                data-severity={escalation.severity}
                aria-current={selected === escalation.id ? 'true' : undefined}
                onClick={() => state.openEscalation(escalation.id)}
              >
                <span class={`severity-badge ${escalation.severity}`}>{escalation.severity}</span>
                <span class="escalation-status">{escalation.status}</span>
                <span class="escalation-subject">{subject}</span>
                <span class="escalation-meta">
                  tier {escalation.tier} · {escalation.region.code} · paged {paged.length ? paged.join(', ') : '—'}
                </span>
                <span class="escalation-age" title={escalation.startedAt}>
                  {formatAge(escalation.startedAt, now)}
                </span>
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
