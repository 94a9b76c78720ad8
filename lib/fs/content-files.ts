import { writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Temporary files looked up by their content: the certificates of a batch
 * that share a chain share its file, written once per run instead of once per
 * certificate (on ext4 each file created and deleted costs about 0.4 ms of
 * kernel time in a thousand-certificate run). The first file is `NAME.EXT`,
 * as a single run has always named it; others are `NAME-2.EXT`, `NAME-3.EXT`…
 */
export class ContentFiles {
  private readonly paths = new Map<string, Promise<string>>();

  constructor(
    private readonly directory: string,
    /** For example `chain.pem`. */
    private readonly fileName: string,
  ) {}

  /** The path of a file holding exactly `text`, written on first request. */
  pathFor(text: string): Promise<string> {
    let written = this.paths.get(text);
    if (written === undefined) {
      const file = path.join(this.directory, this.nameOf(this.paths.size + 1));
      written = writeFile(file, text, 'latin1').then(() => file);
      this.paths.set(text, written);
    }
    return written;
  }

  private nameOf(position: number): string {
    if (position === 1) return this.fileName;
    const extension = path.extname(this.fileName);
    return `${path.basename(this.fileName, extension)}-${position}${extension}`;
  }
}
