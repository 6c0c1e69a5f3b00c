import './styles.css';
import { render } from 'preact';
import { App } from './components/App';
import { applyAdvisoryColours } from './components/Legend';
import { installHook } from './hook';

installHook();
applyAdvisoryColours(document.documentElement);
const root = document.getElementById('app');
if (!root) throw new Error('index.html lacks #app');
render(<App />, root);
