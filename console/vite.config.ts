import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

// During `vite dev` the console talks to a running gateway; production builds are served by
// Tollgate itself at /console/, so every API call stays same-origin.
const gateway = process.env.TOLLGATE_URL ?? 'http://127.0.0.1:8080';
const proxied = ['/api', '/admin', '/v1', '/healthz'];

export default defineConfig({
  root,
  base: '/console/',
  publicDir: false,
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: `${root}dist`,
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    // Content hashes in every asset name let the server cache /console/assets/* as immutable.
    rollupOptions: {
      output: {
        entryFileNames: 'assets/[name]-[hash].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
  server: {
    proxy: Object.fromEntries(proxied.map((p) => [p, { target: gateway, changeOrigin: false }])),
  },
  preview: {
    proxy: Object.fromEntries(proxied.map((p) => [p, { target: gateway, changeOrigin: false }])),
  },
});
