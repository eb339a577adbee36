// `sessionEnded` fan-out: subscribers spread over two instances, one event each, delivered across
// instances through Redis. Written against the contract; skipped while the schema has no
// Subscription.sessionEnded.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { activeUsers } from '../lib/data.mjs';
import { gql, signIn, subscriptionFields } from '../lib/gql.mjs';
import { row, target } from '../lib/harness.mjs';
import { percentile } from '../lib/load.mjs';

const SUBSCRIPTION = 'subscription { sessionEnded { sessionId reason at } }';
const LOGOUT = 'mutation { logout }';

export const fanout = {
  name: 'fanout',
  title: '`sessionEnded` fan-out over 2 instances, one event per subscriber',
  needs: ['small'],
  async run(ctx) {
    const a = await ctx.startService('fanout-a');
    const fields = await subscriptionFields(a.graphql);
    if (!fields.includes('sessionEnded')) {
      return {
        skipped: `the served schema has ${fields.length ? `Subscription { ${fields.join(', ')} }` : 'no Subscription type'} — no \`sessionEnded\` yet (being built); this scenario runs once it exists.`,
      };
    }
    const b = await ctx.startService('fanout-b');
    const instances = [a, b];
    const count = ctx.smoke ? 50 : 1_000;
    const users = await activeUsers(ctx.sql, ctx.data.small.id, count);
    // Two sessions per user: one listens, the other is ended (so the listener's own session stays).
    const listeners = await signIn(a.graphql, ctx.data.small.slug, users, ctx.data.password, {
      concurrency: 8,
    });
    const ended = await signIn(b.graphql, ctx.data.small.slug, users, ctx.data.password, { concurrency: 8 });

    const latencies = [];
    const fromEnd = [];
    const sentAt = new Map();
    const received = new Set();
    let failures = 0;
    let firstFailure;
    const clients = [];
    let allDelivered;
    const delivered = new Promise((resolve) => {
      allDelivered = resolve;
    });
    const subscribed = [];
    listeners.forEach((listener, i) => {
      const instance = instances[i % 2];
      let connected;
      subscribed.push(new Promise((resolve) => (connected = resolve)));
      const client = createClient({
        url: `${instance.graphql.replace(/^http/, 'ws')}`,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${listener.token}` },
        retryAttempts: 0,
        on: { connected: () => connected() },
      });
      clients.push(client);
      client.subscribe(
        { query: SUBSCRIPTION },
        {
          next: (message) => {
            const event = message.data?.sessionEnded;
            if (!event || event.sessionId !== ended[i].sessionId || received.has(i)) return;
            received.add(i);
            // Same machine, same clock: from the moment the service ended the session.
            fromEnd.push(Date.now() - Date.parse(event.at));
            latencies.push(performance.now() - sentAt.get(i));
            if (received.size === listeners.length) allDelivered();
          },
          error: (error) => {
            failures++;
            firstFailure ??= JSON.stringify(error?.message ?? error).slice(0, 300);
            connected();
          },
          complete: () => {},
        },
      );
    });
    await Promise.all(subscribed);
    // Give both instances a moment to finish subscribing on their side (Redis SUBSCRIBE).
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    // End the other session of every user, each on the instance its listener is NOT on.
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < ended.length) {
          const i = next++;
          sentAt.set(i, performance.now());
          const result = await gql(instances[(i + 1) % 2].graphql, LOGOUT, undefined, {
            token: ended[i].token,
          });
          if (result.errors?.length || result.status !== 200) {
            failures++;
            firstFailure ??= JSON.stringify(result.errors ?? result.status).slice(0, 300);
          }
        }
      }),
    );
    const sendMs = performance.now() - started;
    await Promise.race([delivered, new Promise((resolve) => setTimeout(resolve, 15_000))]);
    for (const client of clients) await client.dispose();
    const p99 = percentile(fromEnd, 99);
    writeFileSync(
      join(ctx.outDir, 'fanout-latencies.json'),
      JSON.stringify({ fromEnd, fromSend: latencies }),
    );
    const over = (ms) => fromEnd.filter((x) => x > ms).length;
    const missing = listeners.length - received.size;
    const rssPeak = Math.max(a.proc.peak(), b.proc.peak());
    return {
      rows: [
        row('delivery: session ended (`at`) → event received', `${count} subscribers`, {
          p50: percentile(fromEnd, 50),
          p99,
          errors: failures + missing,
          rssPeak,
        }),
        row('logout sent → event received', `${count} subscribers`, {
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
        }),
      ],
      targets: [
        target(
          'delivery p99',
          '≤ 250 ms',
          p99 === undefined ? 'no events' : `${Math.round(p99)} ms`,
          p99 !== undefined && p99 <= 250 && missing === 0,
        ),
      ],
      notes: [
        `Delivery p90 ${Math.round(percentile(fromEnd, 90) ?? 0)} ms, p95 ${Math.round(percentile(fromEnd, 95) ?? 0)} ms, max ${Math.round(Math.max(0, ...fromEnd))} ms; ${over(250)} events over 250 ms, ${over(450)} over 450 ms (all of them in fanout-latencies.json).`,
        `${received.size}/${listeners.length} events received; ${count} logouts sent 50 at a time over ${Math.round(sendMs)} ms, each to the other instance than its listener's, so every event crosses instances through Redis. Delivery is measured from the event's own \`at\` (same machine, same clock) to its arrival; the second row adds the logout request's own time.`,
        ...(firstFailure ? [`First failure: \`${firstFailure}\``] : []),
      ],
    };
  },
};
