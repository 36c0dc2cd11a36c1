/** The web app's entry: mounts the app in the page (index.html). */
// First: before any module that builds a zod schema (zod-jitless.ts says why).
import './zod-jitless.js';
import { render } from 'preact';
import { App } from './components/App.js';

const root = document.getElementById('app');
if (!root) throw new Error('index.html has no #app element');
render(<App />, root);
