import pg from 'pg';

/**
 * Quotes an identifier for SQL (schema, table, column): never build SQL from raw names.
 * pg's own escaping (libpq's rules), so a name from configuration or a message can never
 * close the quotes.
 */
export const quoteIdent = (name: string): string => pg.escapeIdentifier(name);

/**
 * Quotes a literal for the few statements that take no bind parameters (DDL such as a
 * partition's bounds). Values in queries go in as $n parameters, never through this.
 */
export const quoteLiteral = (value: string): string => pg.escapeLiteral(value);

/** `schema.table` quoted, or just the table when there is no schema. */
export const qualified = (table: string, schema?: string): string =>
  schema === undefined ? quoteIdent(table) : `${quoteIdent(schema)}.${quoteIdent(table)}`;
