/** Where the update flow reports: debug lines, and error lines that do not stop it. */
export interface Log {
  debug(message: string): void;
  error(message: string): Promise<void>;
}
