import { useEffect, useState } from 'preact/hooks';
import { errorCode, errorText } from '../api/client';
import { tripsAtRiskQuery, whoIsWhereQuery } from '../api/documents';
import type { Connection, Presence, Trip } from '../api/types';
import type { BoardState, PeopleTarget } from '../state/board';
import { useStore } from '../state/store';
import { formatTime } from './time';

interface Answer {
  target: PeopleTarget;
  presences: Presence[];
  /** null: not asked (a radius) or not allowed. */
  trips: Trip[] | null;
}

/** The question asked; for a country, its advisory level too, which the map gives only as a colour. */
function describe(target: PeopleTarget, levels: ReadonlyMap<string, number>): string {
  if (target.kind === 'radius') return `${target.radiusKm} km around ${target.latitude.toFixed(3)}, ${target.longitude.toFixed(3)}`;
  const level = levels.get(target.code);
  return `${target.name} (${target.code}) · ${level ? `advisory level ${level}` : 'no advisory level'}`;
}

/** Trips at risk and who is where, for a clicked country or a drawn radius. */
export function PeoplePanel({ state }: { state: BoardState }) {
  const target = useStore(state.people);
  const countryLevels = useStore(state.countryLevels);
  // The travellers layer is reloaded within a second of any trip's risk or
  // any country's advisory changing: the answer is asked again with it.
  const travellers = useStore(state.travellers);
  const drawMode = useStore(state.drawMode);
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [countryInput, setCountryInput] = useState('');

  useEffect(() => {
    if (!target) return undefined;
    let current = true;
    setBusy(true);
    setError(null);
    const at = new Date().toISOString();
    const where =
      target.kind === 'country'
        ? { country: target.code }
        : { latitude: target.latitude, longitude: target.longitude, radiusKm: target.radiusKm };
    const presences = state.request<{ whoIsWhere: Presence[] }>(whoIsWhereQuery, where);
    const trips =
      target.kind === 'country'
        ? state.request<{ trips: Connection<Trip> }>(tripsAtRiskQuery, { at, country: target.code }).then((data) => data.trips.edges.map((e) => e.node))
        : Promise.resolve(null);
    Promise.all([presences, trips])
      .then(([presence, tripList]) => {
        if (current) setAnswer({ target, presences: presence.whoIsWhere, trips: tripList });
      })
      .catch((err: unknown) => {
        if (!current) return;
        setAnswer(null);
        setError(errorCode(err) === 'FORBIDDEN' ? 'You may not see where travellers are.' : errorText(err));
      })
      .finally(() => {
        if (current) setBusy(false);
      });
    return () => {
      current = false;
    };
  }, [target, travellers]);

  const askCountry = (event: Event) => {
    event.preventDefault();
    const code = countryInput.trim().toUpperCase();
    if (/^[A-Z]{2}$/.test(code)) state.people.set({ kind: 'country', code, name: state.countryNames.get(code) ?? code });
    else setError('A country is its two-letter ISO code, for example KE.');
  };

  return (
    <section class="panel people-panel" data-testid="people-panel" aria-labelledby="people-heading">
      <div class="panel-head">
        <h2 id="people-heading">People</h2>
        <button
          type="button"
          data-testid="draw-radius"
          aria-pressed={drawMode.step !== 'off'}
          onClick={() => state.drawMode.set(drawMode.step === 'off' ? { step: 'centre' } : { step: 'off' })}
        >
          {drawMode.step === 'off' ? 'Draw radius' : 'Cancel drawing'}
        </button>
      </div>
      <form class="inline-form" onSubmit={askCountry}>
        <label for="people-country">Country</label>
        <input
          id="people-country"
          data-testid="people-country"
          size={3}
          maxLength={2}
          placeholder="KE"
          value={countryInput}
          onInput={(event) => setCountryInput((event.target as HTMLInputElement).value)}
        />
        <button type="submit">Who is there</button>
      </form>
      {!target && <p class="muted">Click a country on the map, type its code, or draw a radius.</p>}
      {/* A refresh of the same question keeps the answer on screen until the new one arrives. */}
      {busy && answer?.target !== target && <p class="muted">Loading…</p>}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {answer && answer.target === target && (
        <div data-testid="people-result">
          <h3>{describe(answer.target, countryLevels)}</h3>
          {answer.trips && (
            <>
              <h4>Trips at risk now ({answer.trips.length})</h4>
              <ul class="rows compact">
                {answer.trips.map((trip) => (
                  <li key={trip.id} data-testid="people-trip">
                    <span class={`advisory-level level-${trip.risk.level}`}>L{trip.risk.level}</span> {trip.traveller.name}{' '}
                    <span class="muted small">{trip.status.toLowerCase().replace('_', ' ')}</span>
                    {trip.risk.reasons[0] && <div class="muted small">{trip.risk.reasons[0].text}</div>}
                  </li>
                ))}
              </ul>
            </>
          )}
          <h4>Who is where ({answer.presences.length})</h4>
          <ul class="rows compact">
            {answer.presences.map((presence) => (
              <li key={`${presence.trip.id}-${presence.segment.id}`} data-testid="people-presence">
                {presence.traveller.name}{' '}
                <span class="muted small">
                  {presence.segment.place.city}, {presence.segment.place.countryCode} · {presence.segment.kind.toLowerCase()} until{' '}
                  {formatTime(presence.segment.endsAt)}
                  {presence.distanceKm !== null && ` · ${presence.distanceKm.toFixed(0)} km`}
                </span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
