// Where berth lives by default: shared by berthd and the CLI, which must not
// load the engine to know them.
export const DEFAULT_DATA_ROOT = '/var/lib/berth';
export const DEFAULT_SOCKET = '/run/berth/berth.sock';
export const DEFAULT_EXEC_ROOT = '/run/berth';
