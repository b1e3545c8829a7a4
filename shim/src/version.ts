/** The shim's name (as containerd resolves `io.containerd.flotilla.v2`) and version. */
export const SHIM_NAME = 'containerd-shim-flotilla-v2';

/** Reported by `-v`. */
export const SHIM_VERSION = '0.1.0';
