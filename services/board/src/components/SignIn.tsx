import { useEffect, useState } from 'preact/hooks';

interface Persona {
  subject: string;
  name: string;
  roles: string[];
  regions: string[];
  token: string;
}

interface Props {
  busy: boolean;
  error: string | null;
  onToken: (token: string) => void;
}

/**
 * Sign-in: a persona picker fed by the gateway's demo tokens when it offers
 * them (never in production), and always a field to paste a bearer token.
 */
export function SignIn({ busy, error, onToken }: Props) {
  const [personas, setPersonas] = useState<Persona[] | null>(null);
  const [pasted, setPasted] = useState('');

  useEffect(() => {
    const abort = new AbortController();
    fetch('/board/personas', { signal: abort.signal, credentials: 'omit', cache: 'no-store' })
      .then(async (response) => {
        if (response.status !== 200) return;
        const body = (await response.json()) as { personas?: Persona[] };
        if (Array.isArray(body.personas)) setPersonas(body.personas);
      })
      .catch(() => {
        // No picker: the paste-a-token form is always there.
      });
    return () => abort.abort();
  }, []);

  const submit = (event: Event) => {
    event.preventDefault();
    const token = pasted.trim().replace(/^Bearer\s+/i, '');
    if (token) onToken(token);
  };

  return (
    <main class="signin" data-testid="signin">
      <h1>
        Meridian <span class="muted">GSOC board</span>
      </h1>
      {error && (
        <p class="error" role="alert" data-testid="signin-error">
          {error}
        </p>
      )}
      {personas && personas.length > 0 && (
        <section aria-labelledby="personas-heading">
          <h2 id="personas-heading">Sign in as a demo persona</h2>
          <p class="muted">Development only: tokens minted by this gateway.</p>
          <ul class="personas">
            {personas.map((persona) => (
              <li key={persona.subject}>
                <button
                  type="button"
                  class="persona"
                  data-testid={`persona-${persona.subject}`}
                  disabled={busy}
                  onClick={() => onToken(persona.token)}
                >
                  <span class="persona-name">{persona.name}</span>
                  <span class="persona-roles">{persona.roles.join(', ')}</span>
                  <span class="persona-regions">{persona.regions.length ? persona.regions.join(', ') : 'all regions'}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section aria-labelledby="token-heading">
        <h2 id="token-heading">Sign in with a bearer token</h2>
        <form class="token-form" onSubmit={submit}>
          <label for="token-input">Token</label>
          <textarea
            id="token-input"
            data-testid="token-input"
            rows={3}
            spellcheck={false}
            autocomplete="off"
            placeholder="eyJhbGciOi… (make tokens prints the demo ones)"
            value={pasted}
            onInput={(event) => setPasted((event.target as HTMLTextAreaElement).value)}
          />
          <button type="submit" data-testid="token-submit" disabled={busy || pasted.trim() === ''}>
            {busy ? 'Checking…' : 'Sign in'}
          </button>
        </form>
        <p class="muted">The token stays in this tab's memory and session storage, never in the address bar.</p>
      </section>
    </main>
  );
}
