// The urql client: queries and mutations over HTTP, subscriptions over graphql-ws.
import { Client, cacheExchange, fetchExchange, mapExchange, subscriptionExchange } from 'urql';
import { createClient as createWsClient } from 'graphql-ws';
import { backoffMs, getConnection, setConnection } from './connection';
import { isUnauthenticated, markUnauthenticated, untilAuthenticated } from './auth';

/** The server closes the socket with this code when there is no valid credential. */
export const WS_FORBIDDEN = 4403;

function wsUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss:' : 'ws:'}//${host}/graphql/ws`;
}

export const wsClient = createWsClient({
  url: wsUrl(),
  lazy: false,
  keepAlive: 10_000,
  retryAttempts: Number.POSITIVE_INFINITY,
  shouldRetry: () => true,
  retryWait: async (retries) => {
    // Without a session there is no point in trying again until someone logs in.
    await untilAuthenticated();
    const wait = backoffMs(retries);
    setConnection({ state: 'reconnecting', retryAt: Date.now() + wait, attempts: retries + 1 });
    await new Promise((r) => setTimeout(r, wait));
  },
  on: {
    connecting: (isRetry) => setConnection({ state: isRetry ? 'reconnecting' : 'connecting', retryAt: null }),
    connected: (_socket, _payload, wasRetry) => {
      const s = getConnection();
      setConnection({
        state: 'connected',
        retryAt: null,
        attempts: 0,
        reconnects: wasRetry ? s.reconnects + 1 : s.reconnects,
      });
    },
    closed: (event) => {
      if ((event as { code?: number } | undefined)?.code === WS_FORBIDDEN) markUnauthenticated();
      if (getConnection().state === 'connected') setConnection({ state: 'reconnecting', retryAt: null });
    },
  },
});

window.addEventListener('offline', () => setConnection({ state: 'offline' }));

export const client = new Client({
  url: '/graphql',
  // The contract is POST /graphql (GET /graphql is GraphiQL).
  preferGetMethod: false,
  // The session cookie (HttpOnly) goes with every request; the browser does the rest.
  fetchOptions: { credentials: 'same-origin' },
  requestPolicy: 'cache-and-network',
  exchanges: [
    // Any UNAUTHENTICATED answer (HTTP 401, or the code on a GraphQL error) shows the login page.
    mapExchange({
      onError(error) {
        if (isUnauthenticated(error)) markUnauthenticated();
      },
    }),
    cacheExchange,
    subscriptionExchange({
      forwardSubscription(request) {
        const input = { ...request, query: request.query || '' };
        return {
          subscribe(sink) {
            const unsubscribe = wsClient.subscribe(input, sink);
            return { unsubscribe };
          },
        };
      },
    }),
    fetchExchange,
  ],
});
