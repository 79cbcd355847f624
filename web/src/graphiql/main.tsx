// GraphiQL, served by the klaxon binary at GET /graphql: bundled here, so it works with no
// internet and under a strict CSP (no CDN, no inline script, no eval, no workers).
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import 'graphiql/style.css';
import './graphiql.css';

const { protocol, host } = window.location;

// Headers typed in the headers editor go with every HTTP request and, as connectionParams,
// with the WebSocket's connection_init (`{"Authorization": "Bearer …"}`). With nothing typed,
// a logged-in person's session cookie works for both (same origin).
const fetcher = createGraphiQLFetcher({
  url: '/graphql',
  subscriptionUrl: `${protocol === 'https:' ? 'wss:' : 'ws:'}//${host}/graphql/ws`,
  fetch: (input, init) => fetch(input, { ...init, credentials: 'same-origin' }),
});

const example = `# Klaxon's GraphQL API. Logged in to the web UI? Just run this.
# Otherwise put your API token in the Headers tab below:
#   {"Authorization": "Bearer <token>"}
query Me {
  access { role actor { kind name } }
  me { name email }
}
`;

createRoot(document.getElementById('graphiql')!).render(
  <StrictMode>
    <GraphiQL fetcher={fetcher} defaultQuery={example} />
  </StrictMode>,
);
