// Checks shared by the scenarios.

/**
 * Sends some of a scenario's requests once and fails the scenario when any answer is not a
 * clean 200 with data (a load test of error answers would measure the wrong thing).
 */
export async function verifyRequests(url, requests, check = () => true, { sample = 20 } = {}) {
  const picked = requests.length <= sample ? requests : [...requests.slice(0, sample - 1), requests.at(-1)];
  for (const request of picked) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(request.headers ?? {}) },
      body: request.body,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (response.status !== 200 || !body?.data || body.errors?.length || !check(body.data)) {
      throw new Error(`pre-flight check failed: HTTP ${response.status} ${text.slice(0, 400)}`);
    }
  }
}

/** X-Forwarded-For values spread over many client addresses (the service trusts loopback). */
export function clientIp(i) {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255 || 1}`;
}
