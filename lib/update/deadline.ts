/**
 * One bound on everything a certificate's update waits for, whatever hangs:
 * a responder, openssl, HAProxy. Each step stops at it and fails with its own
 * exit code, saying the deadline passed.
 */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly endsAt: number;

  constructor(readonly seconds: number) {
    this.endsAt = Date.now() + seconds * 1000;
    this.timer = setTimeout(() => this.controller.abort(), seconds * 1000);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get passed(): boolean {
    return this.controller.signal.aborted;
  }

  remainingMs(): number {
    return Math.max(0, this.endsAt - Date.now());
  }

  /** Why a step was stopped, for its error message. */
  get reason(): string {
    return `the certificate's ${this.seconds} s deadline passed (--deadline)`;
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}
