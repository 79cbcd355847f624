// The urql client: queries and mutations over HTTP, subscriptions over graphql-ws.
import { Client, cacheExchange, fetchExchange, subscriptionExchange } from 'urql';
import { createClient as createWsClient } from 'graphql-ws';
import { backoffMs, getConnection, setConnection } from './connection';

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
    closed: () => {
      if (getConnection().state === 'connected') setConnection({ state: 'reconnecting', retryAt: null });
    },
  },
});

window.addEventListener('offline', () => setConnection({ state: 'offline' }));

export const client = new Client({
  url: '/graphql',
  // The contract is POST /graphql (GET /graphql is GraphiQL).
  preferGetMethod: false,
  requestPolicy: 'cache-and-network',
  exchanges: [
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
