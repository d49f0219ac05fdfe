// Bits/dim on the 8-bit scale, so that models of data with different colour levels compare.
/** A model of L-level data relates to 256-level data by adding log2(256/L) bits per dimension. */
export function eightBitEquivalent(bitsPerDim: number, levels: number): number {
  return bitsPerDim + Math.log2(256 / levels);
}
