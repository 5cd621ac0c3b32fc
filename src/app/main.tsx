// Browser entry point: mounts the React app, and registers the service worker that keeps the built app for offline use.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { registerServiceWorker } from '../offline/registerServiceWorker.ts';
import { App } from './App.tsx';
import './styles.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

void registerServiceWorker({ production: import.meta.env.PROD, base: import.meta.env.BASE_URL });
