/**
 * The shim's command line, parsed the way Go's `flag` package parses the runc shim's
 * (`runtime/v2/shim/shim.go parseFlags`; containerd-facts §2.2):
 *
 * ```
 * containerd-shim-flotilla-v2 -namespace <ns> -address <grpc socket> -publish-binary <containerd>
 *     -id <id> [-bundle <path>] [-socket <path>] [-debug] [-v] [start|delete]
 * ```
 *
 * Go's rules: a flag is `-name` or `--name`, its value follows as `-name=value` or as the next
 * argument (boolean flags only take the `=` form); parsing stops at the first argument that is not
 * a flag (or after `--`, or at a lone `-`); the action is the first remaining argument. A flag given
 * twice keeps the last value. Unknown flags and missing values are errors (Go exits 2).
 */

/** What the command line says. */
export interface ShimFlags {
  namespace: string;
  /** containerd's gRPC address (`-address`), which the socket address is derived from. */
  address: string;
  /** `-publish-binary`: containerd itself (Go's default `containerd`); unused, events go over ttrpc. */
  publishBinary: string;
  id: string;
  /** `-bundle`: the bundle when it is not the working directory (containerd sets it for `delete`). */
  bundle: string;
  /** `-socket`: serve on this unix socket path instead of the inherited fd 3. */
  socket: string;
  debug: boolean;
  /** `-v`: print the version and exit. */
  version: boolean;
  /** `start`, `delete`, '' (serve), or anything else (an error for the caller). */
  action: string;
  /** Positional arguments after the action (ignored, as Go does). */
  rest: string[];
}

/** A command-line error (Go prints it with the usage and exits 2). */
export class FlagError extends Error {
  override name = 'FlagError';
}

const STRING_FLAGS = {
  namespace: 'namespace',
  address: 'address',
  'publish-binary': 'publishBinary',
  id: 'id',
  bundle: 'bundle',
  socket: 'socket',
} as const satisfies Record<string, keyof ShimFlags>;

const BOOL_FLAGS = {
  debug: 'debug',
  v: 'version',
} as const satisfies Record<string, keyof ShimFlags>;

/** Go's strconv.ParseBool. */
function parseBool(name: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new FlagError(`invalid boolean value "${value}" for -${name}: parse error`);
}

/** The usage text (Go's `flag.PrintDefaults` layout, abridged). */
export const USAGE = `Usage of containerd-shim-flotilla-v2:
  -address string
    	grpc address back to main containerd
  -bundle string
    	path to the bundle if not workdir
  -debug
    	enable debug output in logs
  -id string
    	id of the task
  -namespace string
    	namespace that owns the shim
  -publish-binary string
    	path to publish binary (used for publishing events) (default "containerd")
  -socket string
    	socket path to serve
  -v	show the shim version and exit
`;

/** Parses `argv` (without the node and script paths). Throws {@link FlagError}. */
export function parseFlags(argv: readonly string[]): ShimFlags {
  const flags: ShimFlags = {
    namespace: '',
    address: '',
    publishBinary: 'containerd',
    id: '',
    bundle: '',
    socket: '',
    debug: false,
    version: false,
    action: '',
    rest: [],
  };
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (arg.length < 2 || arg[0] !== '-') break;
    let numMinuses = 1;
    if (arg[1] === '-') {
      numMinuses = 2;
      if (arg.length === 2) {
        i++; // "--" ends the flags
        break;
      }
    }
    let name = arg.slice(numMinuses);
    if (name.length === 0 || name[0] === '-' || name[0] === '=') throw new FlagError(`bad flag syntax: ${arg}`);
    i++;
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq > 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (name === 'h' || name === 'help') throw new FlagError('flag: help requested');
    if (name in BOOL_FLAGS) {
      const key = BOOL_FLAGS[name as keyof typeof BOOL_FLAGS];
      flags[key] = value === undefined ? true : parseBool(name, value);
      continue;
    }
    if (name in STRING_FLAGS) {
      if (value === undefined) {
        if (i >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
        value = argv[i++]!;
      }
      flags[STRING_FLAGS[name as keyof typeof STRING_FLAGS]] = value;
      continue;
    }
    throw new FlagError(`flag provided but not defined: -${name}`);
  }
  const positional = argv.slice(i);
  flags.action = positional[0] ?? '';
  flags.rest = positional.slice(1);
  return flags;
}
