import { Chalk, type ChalkInstance } from 'chalk';

/**
 * A colour palette for one output stream: colours only on a terminal, never
 * when NO_COLOR is set (https://no-color.org), which chalk itself ignores.
 */
export function paletteFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): ChalkInstance {
  const wanted = stream.isTTY === true && (env.NO_COLOR ?? '') === '' && env.TERM !== 'dumb';
  return new Chalk({ level: wanted ? 1 : 0 });
}
