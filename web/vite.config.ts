import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

// `vite dev` talks to a Klaxon server on :8080 (`klaxon serve --in-memory --demo`).
const target = process.env.KLAXON_URL || 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/graphql': {
        target,
        ws: true,
        changeOrigin: true,
        // The server checks the WebSocket's Origin against its own: present the proxied
        // socket as coming from it, or the session cookie is refused with 4403.
        configure: (proxy) => proxy.on('proxyReqWs', (req) => req.setHeader('origin', new URL(target).origin)),
      },
      '/api': { target, changeOrigin: true },
      '/auth': { target, changeOrigin: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
    sourcemap: false,
    // Two pages: the app (index.html) and GraphiQL (graphiql.html, served at GET /graphql).
    // They share nothing but React, so the app never loads GraphiQL's code.
    rolldownOptions: {
      input: {
        main: fileURLToPath(new URL('./index.html', import.meta.url)),
        graphiql: fileURLToPath(new URL('./graphiql.html', import.meta.url)),
      },
    },
  },
});
