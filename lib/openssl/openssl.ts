import { run, type CommandResult } from '../process/run.ts';
import { parseOpensslVersion, type OpensslVersion } from './output.ts';

export interface ChainArgs {
  /** PEM file holding the issuer (and the rest of the chain). */
  readonly issuer: string;
  /** PEM file holding the EE certificate. */
  readonly cert: string;
  readonly partialChain: boolean;
  /** Stops the process when the certificate's deadline passes. */
  readonly signal?: AbortSignal;
}

/** How openssl judges a response: against which trust. */
export interface Verification {
  readonly caFile: string;
  readonly vaFile?: string;
  readonly verify: boolean;
}

/** A request that goes to the responder. */
export interface RequestArgs extends ChainArgs {
  /** `--nonce`: the request carries a random nonce (openssl's default) instead of none (`-no_nonce`). */
  readonly nonce: boolean;
}

export interface FetchArgs extends RequestArgs {
  /** Where openssl also writes the request it sends: the only place its nonce can be read back from. */
  readonly requestOut?: string;
  readonly url: string;
  /** Sent as the `Host:` header instead of the URL's host. */
  readonly hostHeader?: string;
  /** An HTTP proxy URL; needs OpenSSL 3.0 or later. */
  readonly proxy?: string;
  readonly responseOut: string;
  /** How long the whole exchange may take before openssl is stopped. */
  readonly timeoutSeconds: number;
  readonly verification: Verification;
}

export interface CheckArgs extends ChainArgs {
  readonly responseIn: string;
  readonly verification: Verification;
}

/**
 * What the flow asks of openssl, each method one invocation: the seam where
 * in-process tests put a fake in place of the binary.
 */
export interface OpensslRunner {
  readonly version: OpensslVersion;
  /** `-proxy` exists from OpenSSL 3.0. */
  readonly supportsProxy: boolean;
  /** Whether `openssl ocsp` fails to set a Host header by itself (before 1.1). */
  readonly needsExplicitHost: boolean;
  verify(args: VerifyArgs): Promise<CommandResult>;
  verifyWith(args: readonly string[], signal?: AbortSignal): Promise<CommandResult>;
  fetchResponse(args: FetchArgs): Promise<CommandResult>;
  writeRequest(args: RequestArgs & { requestOut: string }): Promise<CommandResult>;
  checkResponse(args: CheckArgs): Promise<CommandResult>;
}

export interface VerifyArgs {
  readonly caFile: string;
  readonly cert: string;
  readonly partialChain: boolean;
  readonly signal?: AbortSignal;
}

/** One openssl binary of a known version. */
export class Openssl implements OpensslRunner {
  private constructor(
    readonly binary: string,
    readonly version: OpensslVersion,
  ) {}

  /** Undefined when the binary cannot be run or is not OpenSSL. */
  static async detect(binary: string): Promise<Openssl | undefined> {
    const result = await run(binary, ['version']);
    const version = result.exitCode === 0 ? parseOpensslVersion(result.stdout) : undefined;
    return version && new Openssl(binary, version);
  }

  get supportsProxy(): boolean {
    return this.version.major >= 3;
  }

  verify(args: VerifyArgs): Promise<CommandResult> {
    return this.verifyWith([...partialChainArg(args), '-CAfile', args.caFile, args.cert], args.signal);
  }

  verifyWith(args: readonly string[], signal?: AbortSignal): Promise<CommandResult> {
    return run(this.binary, ['verify', ...args], { signal });
  }

  fetchResponse(args: FetchArgs): Promise<CommandResult> {
    return run(
      this.binary,
      [
        'ocsp',
        ...partialChainArg(args),
        ...requestArgs(args, args.nonce),
        ...(args.requestOut === undefined ? [] : ['-reqout', args.requestOut]),
        '-respout',
        args.responseOut,
        '-url',
        args.url,
        ...this.hostHeaderArgs(args.hostHeader),
        ...(args.proxy === undefined ? [] : ['-proxy', args.proxy]),
        ...verificationArgs(args.verification),
      ],
      {
        signal: args.signal,
        // Not openssl's own -timeout: from OpenSSL 3.0 it retries a refused
        // connect until the timeout expires (10 s an attempt where nothing
        // listens), while without it a refused connect fails at once.
        timeoutMs: args.timeoutSeconds * 1000,
        // It waits on the network: a run killed meanwhile must not leave it behind.
        dieWithParent: true,
      },
    );
  }

  writeRequest(args: RequestArgs & { requestOut: string }): Promise<CommandResult> {
    return run(
      this.binary,
      ['ocsp', ...partialChainArg(args), ...requestArgs(args, args.nonce), '-reqout', args.requestOut],
      { signal: args.signal },
    );
  }

  checkResponse(args: CheckArgs): Promise<CommandResult> {
    return run(
      this.binary,
      [
        'ocsp',
        ...partialChainArg(args),
        // The request made here is never sent: a nonce in it would be a new
        // one, which openssl would find missing from the response. Whether
        // the response echoes the nonce sent is the caller's to check.
        ...requestArgs(args, false),
        '-respin',
        args.responseIn,
        ...verificationArgs(args.verification),
      ],
      { signal: args.signal },
    );
  }

  get needsExplicitHost(): boolean {
    return !sendsOwnHostHeader(this.version);
  }

  private hostHeaderArgs(hostHeader: string | undefined): string[] {
    return hostHeader === undefined ? [] : hostHeaderArgs(this.version, hostHeader);
  }
}

/** OpenSSL 1.1 and later derive a Host header from the URL; 0.9 and 1.0 send none. */
function sendsOwnHostHeader(version: Pick<OpensslVersion, 'major' | 'minor'>): boolean {
  return version.major > 1 || (version.major === 1 && version.minor >= 1);
}

/**
 * What keeps OpenSSL from also trusting its default CA directory (and, from
 * 3.0, its default store) beside an explicit `-CAfile`; 1.0 has no way to.
 */
export function explicitTrustOnlyArgs(version: Pick<OpensslVersion, 'major' | 'minor'>): string[] {
  if (version.major >= 3) return ['-no-CApath', '-no-CAstore'];
  return version.major === 1 && version.minor >= 1 ? ['-no-CApath'] : [];
}

/** `openssl ocsp -header`: two arguments on 1.0, `NAME=VALUE` on 0.9 and from 1.1 on. */
function hostHeaderArgs(version: Pick<OpensslVersion, 'major' | 'minor'>, host: string): string[] {
  return version.major === 1 && version.minor === 0 ? ['-header', 'Host', host] : ['-header', `Host=${host}`];
}

function verificationArgs(verification: Verification): string[] {
  return [
    ...(verification.verify ? [] : ['-noverify']),
    '-CAfile',
    verification.caFile,
    ...(verification.vaFile === undefined ? [] : ['-VAfile', verification.vaFile]),
  ];
}

function partialChainArg(args: { partialChain: boolean }): string[] {
  return args.partialChain ? ['-partial_chain'] : [];
}

/**
 * The certificate identification every request needs; no nonce unless
 * `--nonce` asks for one, as HAProxy and the original send none: a response
 * made for one request's nonce cannot be cached for the next.
 */
function requestArgs(args: ChainArgs, nonce: boolean): string[] {
  return ['-issuer', args.issuer, '-cert', args.cert, ...(nonce ? [] : ['-no_nonce'])];
}
