import type { BoardState } from '../state/board';
import { useStore } from '../state/store';
import { formatTime } from './time';

const levelWords: Record<number, string> = {
  1: 'normal precautions',
  2: 'increased caution',
  3: 'reconsider travel',
  4: 'do not travel',
};

/** Advisory level changes as they arrive, newest first. */
export function AdvisoryFeed({ state }: { state: BoardState }) {
  const feed = useStore(state.advisoryFeed);
  return (
    <section class="panel advisory-feed" data-testid="advisory-feed" aria-labelledby="advisory-heading">
      <div class="panel-head">
        <h2 id="advisory-heading">Advisory changes</h2>
        <span class="muted">live</span>
      </div>
      {feed.length === 0 && <p class="muted">None since the board opened.</p>}
      <ol class="rows" aria-live="polite">
        {feed.map((change) => {
          const rising = change.previousLevel === null || change.level > change.previousLevel;
          return (
            <li key={change.cursor} class={`advisory-row ${rising ? 'rising' : 'falling'}`} data-country={change.country.code}>
              <span class={`advisory-level level-${change.level}`} title={levelWords[change.level]}>
                {change.previousLevel ?? '–'} → {change.level}
              </span>
              <span class="advisory-country">
                {change.country.name} ({change.country.code})
              </span>
              <span class="muted small">
                {change.cause} · {change.rule === 'OVERRIDE' ? 'override' : 'sources'} · {formatTime(change.at)}
              </span>
            </li>
          );
        })}
      </ol>
    </section>
  );
}
