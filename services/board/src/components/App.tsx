import { useCallback, useEffect, useState } from 'preact/hooks';
import { APIError, request } from '../api/client';
import { viewerQuery } from '../api/documents';
import type { Viewer } from '../api/types';
import { resetHook } from '../hook';
import { readStoredToken, storeToken } from '../session';
import { Board } from './Board';
import { SignIn } from './SignIn';

/** How long a sign-in waits before asking an unreachable gateway again. */
const signInRetryMs = 5_000;

interface Session {
  token: string;
  me: Viewer;
}

/** Asks the gateway who a token belongs to: a refused token fails here, not on the board. */
async function whoIs(token: string): Promise<Viewer> {
  const data = await request<{ me: Viewer }>(token, viewerQuery);
  return data.me;
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(() => readStoredToken() !== null);
  const [error, setError] = useState<string | null>(null);
  /** Bumped after a sign-in the gateway could not answer: schedules the next try. */
  const [retry, setRetry] = useState(0);

  const signIn = useCallback(async (token: string) => {
    setError(null);
    setChecking(true);
    try {
      const me = await whoIs(token);
      storeToken(token);
      setSession({ token, me });
    } catch (err) {
      setSession(null);
      if (err instanceof APIError && err.code === 'UNAUTHENTICATED') {
        storeToken(null);
        setError('That token was refused: it is malformed, expired or not signed by this gateway. Sign in again.');
      } else {
        // The gateway is away or failing, not the token: keep it, and try
        // again, so a board reloaded during an outage comes back by itself.
        storeToken(token);
        setError(`Could not reach the gateway to sign in (${err instanceof Error ? err.message : String(err)}); trying again every ${signInRetryMs / 1000} s.`);
        setRetry((n) => n + 1);
      }
    } finally {
      setChecking(false);
    }
  }, []);

  const signOut = useCallback((reason?: string) => {
    storeToken(null);
    resetHook();
    setSession(null);
    setError(reason ?? null);
  }, []);

  useEffect(() => {
    const stored = readStoredToken();
    if (stored) void signIn(stored);
  }, [signIn]);

  useEffect(() => {
    if (retry === 0) return undefined;
    const timer = setTimeout(() => {
      const stored = readStoredToken();
      if (stored) void signIn(stored);
    }, signInRetryMs);
    return () => clearTimeout(timer);
  }, [retry, signIn]);

  if (session) {
    return (
      <Board
        key={session.token}
        token={session.token}
        me={session.me}
        onSignOut={() => signOut()}
        onTokenRefused={() => signOut('The gateway refused the token (expired or revoked). Sign in again.')}
      />
    );
  }
  return <SignIn busy={checking} error={error} onToken={(token) => void signIn(token)} />;
}
