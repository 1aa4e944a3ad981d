/** Code-unit order of two strings (as `<` compares them): the one order concurrent writers lock rows in. */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
