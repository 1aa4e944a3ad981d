/** Query parameters whose values are secrets (libpq `password`, `sslpassword`, tokens, keys). */
const SECRET_PARAM = /pass|secret|token|key/i;

/** A URL with its password and secret query parameters replaced, for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    for (const key of [...u.searchParams.keys()]) {
      if (SECRET_PARAM.test(key)) u.searchParams.set(key, '***');
    }
    return u.toString();
  } catch {
    return redactText(url);
  }
}

// `scheme://user:password@`: the password runs to the last @ before the host (an unencoded @
// in a password still parses as a URL), but never past a space, quote, /, ? or #, so a JSON
// log line keeps its shape.
const USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s"]*):[^\s/?#"]*@/gi;
const QUERY_SECRET = /([?&][a-z_]*(?:pass|secret|token|key)[a-z_]*=)[^&\s#"]*/gi;

/** Every `scheme://user:password@` and every secret query parameter inside free text. */
export const redactText = (text: string): string => text.replace(USERINFO, '$1:***@').replace(QUERY_SECRET, '$1***');
