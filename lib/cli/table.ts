import type { ChalkInstance } from 'chalk';

/**
 * A table's lines: the header in bold, then one line per row, each column
 * padded to its widest cell and two spaces apart, the last column left as
 * it is. The first cell of row N is coloured by `firstCellColour(N)`; cells
 * hold plain text, so that widths are the characters shown.
 */
export function tableLines(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  palette: ChalkInstance,
  firstCellColour: (row: number) => ChalkInstance,
): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  const body = rows.map((row, index) => {
    const text = line(row);
    const first = row[0]!.length;
    return firstCellColour(index)(text.slice(0, first)) + text.slice(first);
  });
  return [palette.bold(line(header)), ...body];
}
