// The ceiling every scenario is compared with: a bare Apollo Server 5 on the same express 5
// integration and the same Node, answering `{ hello }` from a constant. Started by bench/run.mjs
// as its own process: PORT=… node bench/ceiling.mjs
import { createServer } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';

const apollo = new ApolloServer({
  typeDefs: 'type Query { hello: String! }',
  resolvers: { Query: { hello: () => 'world' } },
});
await apollo.start();

const app = express();
app.get('/health', (_req, res) => {
  res.json({ status: 'ok' });
});
app.use('/graphql', express.json(), expressMiddleware(apollo));

const server = createServer(app);
server.listen(Number(process.env.PORT ?? 4000), '127.0.0.1');
const stop = () => {
  server.close();
  server.closeAllConnections();
  apollo.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
