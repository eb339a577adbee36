// The ceilings every scenario is compared with: a bare Apollo Server 5 answering `{ hello }` from
// a constant, on the same Node. CEILING=standalone (the tracked one) serves it with Apollo's own
// HTTP server (`@apollo/server/standalone`: Node's http calling executeHTTPGraphQLRequest);
// CEILING=express on the express 5 integration, as the service did before it left express.
// Started by bench/run.mjs as its own process: CEILING=… PORT=… node bench/ceiling.mjs
import { createServer } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';

const kind = process.env.CEILING ?? 'standalone';
const port = Number(process.env.PORT ?? 4000);
const apollo = new ApolloServer({
  typeDefs: 'type Query { hello: String! }',
  resolvers: { Query: { hello: () => 'world' } },
});

let close = () => {};
if (kind === 'standalone') {
  // Serves every path; apollo.stop() closes its HTTP server (the drain plugin it installs).
  await startStandaloneServer(apollo, { listen: { port, host: '127.0.0.1' } });
} else if (kind === 'express') {
  await apollo.start();
  const app = express();
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.use('/graphql', express.json(), expressMiddleware(apollo));
  const server = createServer(app);
  server.listen(port, '127.0.0.1');
  close = () => {
    server.close();
    server.closeAllConnections();
  };
} else {
  throw new Error(`CEILING must be standalone or express, not ${kind}`);
}

const stop = () => {
  close();
  apollo.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
