// Loads the dashboard (Ink, React) only when it is drawn, with React's production build:
// its development build, chosen when NODE_ENV is unset, draws each frame several times slower.
export async function loadDashboard(): Promise<typeof import('./index.js')> {
  process.env.NODE_ENV ??= 'production';
  return import('./index.js');
}
