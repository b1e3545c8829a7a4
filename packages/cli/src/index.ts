/** The flotilla command line. */
export { main } from './main.js';
