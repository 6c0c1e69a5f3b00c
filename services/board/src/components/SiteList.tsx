import { useMemo, useState } from 'preact/hooks';
import type { Site } from '../api/types';
import type { BoardState } from '../state/board';
import { compareSites } from '../state/sites';
import { useStore } from '../state/store';
import { siteIconURL } from './icons';

/** 5,000 sites must not make the DOM huge: the list shows the first matches. */
const shownRows = 200;

function matches(site: Site, words: string[]): boolean {
  if (words.length === 0) return true;
  const text = `${site.code} ${site.name} ${site.city} ${site.countryCode} ${site.region.code} ${site.status.level} ${site.status.posture}`.toLowerCase();
  return words.every((word) => text.includes(word));
}

function moveFocus(event: KeyboardEvent): void {
  const row = (event.target as HTMLElement).closest('li');
  const target =
    event.key === 'ArrowDown' ? row?.nextElementSibling : event.key === 'ArrowUp' ? row?.previousElementSibling : null;
  const button = target?.querySelector('button');
  if (button) {
    event.preventDefault();
    button.focus();
  }
}

export function SiteList({ state }: { state: BoardState }) {
  const revision = useStore(state.sitesRevision);
  const loaded = useStore(state.loaded);
  const selection = useStore(state.selection);
  const [filter, setFilter] = useState('');

  const { rows, total } = useMemo(() => {
    const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
    const matching: Site[] = [];
    for (const site of state.sites.values()) if (matches(site, words)) matching.push(site);
    matching.sort(compareSites);
    return { rows: matching.slice(0, shownRows), total: matching.length };
  }, [revision, filter, state]);

  const selected = selection?.kind === 'site' ? selection.code : null;

  return (
    <section class="panel site-list" data-testid="site-list" aria-labelledby="site-list-heading">
      <div class="panel-head">
        <h2 id="site-list-heading">Sites</h2>
        <span class="muted" aria-live="polite">
          {loaded.sites ? (total > rows.length ? `${rows.length} of ${total}` : `${total}`) : 'loading…'}
        </span>
      </div>
      <label class="visually-hidden" for="site-filter">
        Filter sites
      </label>
      <input
        id="site-filter"
        data-testid="site-filter"
        type="search"
        placeholder="Filter: code, city, country, region, level…"
        value={filter}
        onInput={(event) => setFilter((event.target as HTMLInputElement).value)}
      />
      <ul class="rows" onKeyDown={moveFocus}>
        {rows.map((site) => (
          <li key={site.code}>
            <button
              type="button"
              class={`site-row level-${site.status.level}${selected === site.code ? ' selected' : ''}`}
              data-testid={`site-row-${site.code}`}
              data-level={site.status.level}
              data-posture={site.status.posture}
              aria-current={selected === site.code ? 'true' : undefined}
              onClick={() => state.openSite(site.code)}
            >
              <img src={siteIconURL(site.status.level, site.status.posture)} alt="" width={22} height={22} />
              <span class="site-code">{site.code}</span>
              <span class="site-place">
                {site.city}, {site.countryCode}
              </span>
              <span class="site-status">
                {site.status.level} · {site.status.posture}
              </span>
            </button>
          </li>
        ))}
      </ul>
      {total > rows.length && <p class="muted small">Showing the {rows.length} most severe; filter to find others.</p>}
    </section>
  );
}
