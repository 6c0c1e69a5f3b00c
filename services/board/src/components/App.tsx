import { useCallback, useEffect, useState } from 'preact/hooks';
import { APIError, request } from '../api/client';
import { viewerQuery } from '../api/documents';
import type { Viewer } from '../api/types';
import { resetHook } from '../hook';
import { readStoredToken, storeToken } from '../session';
import { Board } from './Board';
import { SignIn } from './SignIn';

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

  const signIn = useCallback(async (token: string) => {
    setError(null);
    setChecking(true);
    try {
      const me = await whoIs(token);
      storeToken(token);
      setSession({ token, me });
    } catch (err) {
      storeToken(null);
      setSession(null);
      if (err instanceof APIError && err.code === 'UNAUTHENTICATED') {
        setError('That token was refused: it is malformed, expired or not signed by this gateway. Sign in again.');
      } else {
        setError(`Could not sign in: ${err instanceof Error ? err.message : String(err)}`);
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
