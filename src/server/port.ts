/** The service's default port (README). Its own module: the CLI names it without loading the server. */
export const DEFAULT_PORT = 47821;
