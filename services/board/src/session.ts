// The bearer token lives in memory and in sessionStorage (this tab only, gone
// when the tab closes) — never in a URL, where it would leak into history,
// logs and Referer headers.

const storageKey = 'meridian.token';

export function readStoredToken(): string | null {
  try {
    const token = sessionStorage.getItem(storageKey);
    return token && token.trim() !== '' ? token : null;
  } catch {
    // Storage can be disabled; the token then lives in memory only.
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(storageKey);
    else sessionStorage.setItem(storageKey, token);
  } catch {
    // See readStoredToken.
  }
}
