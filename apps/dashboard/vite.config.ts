import { defineConfig } from 'vite';

// The dashboard is plain static files the gateway serves at / (apps/gateway/src/dashboard.ts):
// hashed assets under /assets, one index.html, no inline script (the gateway's CSP allows
// scripts from itself only).
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
});
