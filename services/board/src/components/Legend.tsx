import { useState } from 'preact/hooks';
import { postures, statusLevels } from '../api/types';
import { advisoryColour, advisoryNeutral, levelShape, postureLetter } from '../map/icons';
import { markerIconURL, siteIconURL } from './icons';

/** What the map's shapes, colours and letters mean: never colour alone. */
export function Legend() {
  const [open, setOpen] = useState(true);
  return (
    <section class={`legend${open ? '' : ' closed'}`} aria-labelledby="legend-heading">
      <div class="legend-head">
        <h2 id="legend-heading">Legend</h2>
        <button type="button" class="icon" aria-expanded={open} aria-controls="legend-body" aria-label={open ? 'Hide the legend' : 'Show the legend'} onClick={() => setOpen(!open)}>
          {open ? '−' : '+'}
        </button>
      </div>
      {open && (
        <div id="legend-body" class="legend-body">
          <div>
            <h3>Site level: shape and colour</h3>
            <ul>
              {statusLevels.map((level) => (
                <li key={level}>
                  <img src={siteIconURL(level, 'OPEN')} alt="" width={20} height={20} /> {level.toLowerCase()}{' '}
                  <span class="muted">{levelShape[level]}</span>
                </li>
              ))}
            </ul>
          </div>
          <div>
            <h3>Posture: letter</h3>
            <ul>
              {postures.map((posture) => (
                <li key={posture}>
                  <b class="legend-letter">{postureLetter[posture]}</b> {posture.toLowerCase()}
                </li>
              ))}
            </ul>
          </div>
          <div>
            <h3>Country advisory</h3>
            <ul>
              {[1, 2, 3, 4].map((level) => (
                <li key={level}>
                  <span class="swatch" data-advisory={level} aria-hidden="true" /> {level}{' '}
                  {['normal precautions', 'increased caution', 'reconsider travel', 'do not travel'][level - 1]}
                </li>
              ))}
              <li>
                <span class="swatch" data-advisory="0" aria-hidden="true" /> no advisory
              </li>
            </ul>
          </div>
          <div>
            <h3>Also</h3>
            <ul>
              <li>
                <img src={markerIconURL('incident')} alt="" width={20} height={20} /> incident; ring: impact radius
              </li>
              <li>
                <img src={markerIconURL('traveller')} alt="" width={20} height={20} /> traveller at risk
              </li>
              <li>
                <img src={markerIconURL('detail')} alt="" width={20} height={20} /> protection detail
              </li>
            </ul>
          </div>
        </div>
      )}
    </section>
  );
}

// The swatch colours come from the same table as the map's fill, through
// CSS custom properties set once (no inline style attributes: the CSP
// forbids them).
export function applyAdvisoryColours(root: HTMLElement): void {
  root.style.setProperty('--advisory-0', advisoryNeutral);
  for (const level of [1, 2, 3, 4]) root.style.setProperty(`--advisory-${level}`, advisoryColour[level] ?? advisoryNeutral);
}
