import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import accepts from 'accepts';
import type { Request, RequestHandler, Response } from 'express';
import type { GraphQLSchema } from 'graphql';
import { CONSOLE_SCRIPT, type ConsoleTab, defaultTabs, type PageConfig, renderPage } from './console.page.js';

const gzip = promisify(gzipCallback);

/** Where the console's files are served, below the GraphQL endpoint (/graphql/console/<name>). */
const ASSET_DIR = 'console/';

export interface ConsoleOptions {
  schema: GraphQLSchema;
  /** Pre-filled in the sign-in bar. */
  systemTenantSlug: string;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  gzipped?: Promise<Buffer>;
}

interface Built {
  assets: Map<string, Asset>;
  files: PageConfig['files'];
  workers: PageConfig['workers'];
  tabs: ConsoleTab[];
}

/** The console's two handlers; the GraphQL endpoint (src/app/http.ts) decides which one runs. */
export interface GraphQLConsole {
  /** Whether this request to /graphql is a browser asking for a page (GET or HEAD, Accept: text/html). */
  wantsPage(req: IncomingMessage): boolean;
  /** The console page. */
  page: RequestHandler;
  /** One of its files, `<name>` of GET /graphql/console/<name>; unknown names fall through. */
  asset: RequestHandler;
}

/**
 * The GraphiQL console at GET /graphql for browsers (Accept: text/html). GraphiQL, its editor
 * workers and styles come from the @graphql-yoga/render-graphiql package and are served from here
 * under content-hashed names, so the page loads nothing from another origin (its
 * Content-Security-Policy says so too). The 9 MB bundle is loaded into memory on the first visit,
 * not at start-up. There is no route of its own here: a GET route for /graphql would make express
 * answer OPTIONS /graphql by itself (without CORS headers), so the endpoint calls these handlers.
 */
export function createConsole(options: ConsoleOptions): GraphQLConsole {
  let built: Promise<Built> | undefined;
  const build = () => {
    built ??= buildAssets(options).catch((error: unknown) => {
      built = undefined;
      throw error;
    });
    return built;
  };
  return {
    wantsPage: (req) => (req.method === 'GET' || req.method === 'HEAD') && prefersHtml(req),
    page: async (req, res) => {
      const { files, workers, tabs } = await build();
      // Relative to the page, so the console also works behind a proxy that adds a path prefix.
      const path = req.originalUrl.split('?', 1)[0] ?? '';
      const assets = path.endsWith('/') ? ASSET_DIR : `graphql/${ASSET_DIR}`;
      const page = renderPage({
        title: 'Identity API console',
        assets,
        files,
        workers,
        tenant: options.systemTenantSlug,
        tabs,
      });
      res
        .set({
          'content-security-policy': CONTENT_SECURITY_POLICY,
          'cache-control': 'no-cache',
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
        })
        .type('html')
        .send(page);
    },
    asset: async (req, res, next) => {
      const name = /^\/console\/([^/]+)$/.exec(req.path)?.[1];
      const asset = name === undefined ? undefined : (await build()).assets.get(name);
      if (!asset) return next();
      await sendAsset(req, res, asset);
    },
  };
}

/**
 * Scripts, styles, workers and sockets only from this origin ('self' covers ws:/wss: to the
 * same host). Inline styles are needed by the editor (Monaco) and React.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "worker-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** A browser navigating here; API clients (Accept: JSON, anything, or no Accept header) are not. */
function prefersHtml(req: IncomingMessage): boolean {
  // What express's req.accepts() answers (it is this same negotiation).
  return (
    accepts(req).types(['application/graphql-response+json', 'application/json', 'text/html']) === 'text/html'
  );
}

async function sendAsset(req: Request, res: Response, asset: Asset): Promise<void> {
  res.set({
    // Names carry a hash of the content.
    'cache-control': 'public, max-age=31536000, immutable',
    etag: asset.etag,
    vary: 'accept-encoding',
    'x-content-type-options': 'nosniff',
  });
  res.type(asset.type);
  if (req.fresh) {
    res.status(304).end();
    return;
  }
  if (asset.body.length > 1024 && req.acceptsEncodings('gzip', 'identity') === 'gzip') {
    asset.gzipped ??= gzip(asset.body);
    res.set('content-encoding', 'gzip').send(await asset.gzipped);
    return;
  }
  res.send(asset.body);
}

async function buildAssets(options: ConsoleOptions): Promise<Built> {
  const graphiql = await import('@graphql-yoga/render-graphiql/graphiql');
  const assets = new Map<string, Asset>();
  const add = (stem: string, extension: string, type: string, content: string | Buffer): string => {
    const body = Buffer.from(content);
    const hash = createHash('sha256').update(body).digest('base64url').slice(0, 12);
    const name = `${stem}.${hash}.${extension}`;
    assets.set(name, { body, type, etag: `"${hash}"` });
    return name;
  };
  const favicon = /^data:([^;,]+);base64,(.*)$/s.exec(graphiql.favicon);
  return {
    assets,
    files: {
      css: add('graphiql', 'css', 'text/css; charset=utf-8', graphiql.css),
      graphiql: add('graphiql', 'js', 'text/javascript; charset=utf-8', graphiql.js),
      script: add('console', 'js', 'text/javascript; charset=utf-8', CONSOLE_SCRIPT),
      // A QR code generator for the authenticator set-up, drawn in the page (no image service).
      qrcode: add(
        'qrcode',
        'js',
        'text/javascript; charset=utf-8',
        await readFile(createRequire(import.meta.url).resolve('qrcode-generator')),
      ),
      favicon: add(
        'favicon',
        'ico',
        favicon?.[1] ?? 'image/x-icon',
        Buffer.from(favicon?.[2] ?? '', 'base64'),
      ),
    },
    workers: {
      editorWorkerService: add(
        'editor.worker',
        'js',
        'text/javascript; charset=utf-8',
        graphiql.editorWorkerService,
      ),
      json: add('json.worker', 'js', 'text/javascript; charset=utf-8', graphiql.jsonWorker),
      graphql: add('graphql.worker', 'js', 'text/javascript; charset=utf-8', graphiql.graphqlWorker),
    },
    tabs: defaultTabs(options.schema, options.systemTenantSlug),
  };
}
