/**
 * The Extensions of certificates and OCSP responses: each checked as it is
 * walked, then looked up by OID, since the updater needs only a few known ones.
 */
import { UniversalTag, type DerElement } from './der.ts';
import { SequenceReader, isOid, readBoolean, readOctetString, readSequence } from './der-readers.ts';

export interface Extension {
  /**
   * Not decoded: it is only compared with the few OIDs looked for here, and
   * any other, however long or odd, belongs to an extension nobody needs.
   */
  readonly id: DerElement;
  readonly value: DerElement;
}

export function parseExtensions(element: DerElement): Extension[] {
  return readSequence(element, 'Extensions').map((child) => {
    const fields = new SequenceReader(child, 'Extension');
    const id = fields.next('extnID');
    const criticalField = fields.optional(UniversalTag.boolean, 'universal');
    if (criticalField) readBoolean(criticalField, 'critical');
    const value = fields.next('extnValue');
    readOctetString(value, 'extnValue');
    fields.end();
    return { id, value };
  });
}

/** The extnValue OCTET STRING of the extension OID. */
export function findExtension(extensions: readonly Extension[], oid: Buffer): DerElement | undefined {
  return extensions.find((extension) => isOid(extension.id, oid))?.value;
}
