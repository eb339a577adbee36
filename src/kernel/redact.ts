/**
 * Hides credentials in text meant for an operator (configuration errors, start-up failures):
 * the user-info part of anything shaped like a URL, `scheme://user:password@host` and the bare
 * `user:password@host` left when a URL is mistyped, becomes `user:***@host`. Hosts, ports and
 * paths stay, so the message still says which server it is about.
 */
export function redactCredentials(text: string): string {
  return (
    text
      .replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@"']*)@/gi, (_match, scheme: string, userinfo: string) => {
        const colon = userinfo.indexOf(':');
        return `${scheme}${colon >= 0 ? `${userinfo.slice(0, colon)}:***` : '***'}@`;
      })
      // What is left of a mistyped URL: a colon, then anything up to an @ (a password may hold /).
      .replace(/:(?!\/\/)[^\s"'@]*@/g, ':***@')
  );
}
