import { cliLocation } from './cli-location.js';
import { main } from './main.js';
import { start } from './start.js';

// The whole command line, parsed by commander: every command, option, --help and error.
cliLocation.url = import.meta.url;
start(main);
