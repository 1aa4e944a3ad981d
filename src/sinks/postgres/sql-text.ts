/** Quotes an identifier for SQL (schema, table, column): never build SQL from raw names. */
export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** `schema.table` quoted, or just the table when there is no schema. */
export const qualified = (table: string, schema?: string): string =>
  schema === undefined ? quoteIdent(table) : `${quoteIdent(schema)}.${quoteIdent(table)}`;
