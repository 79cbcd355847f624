// Pages loaded on first visit, in chunks of their own (with their libraries).
import { lazy, Suspense } from 'react';
import { Loading } from '../components/ui';

/** The analytics page and Chart.js: never part of the board's first load. */
export const LazyAnalyticsPage = lazy(() => import('./Analytics'));

export function AnalyticsRoute() {
  return (
    <Suspense fallback={<Loading what="the analytics page" />}>
      <LazyAnalyticsPage />
    </Suspense>
  );
}

/** The admin webhooks page: rarely visited, so not in the first load either. */
export const LazyWebhooksPage = lazy(() => import('./Webhooks'));

export function WebhooksRoute() {
  return (
    <Suspense fallback={<Loading what="the webhooks page" />}>
      <LazyWebhooksPage />
    </Suspense>
  );
}
