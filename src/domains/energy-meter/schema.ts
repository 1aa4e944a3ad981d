/** JSON Schema of an energy-meter ingest message (the envelope; readings are checked per rule). */
export const energyMeterSchema = {
  $id: 'https://ingestd.dev/schemas/energy-meter/ingest.json',
  type: 'object',
  required: ['client_fingerprint', 'received_at', 'payload'],
  properties: {
    request_id: { type: 'string', minLength: 1, maxLength: 255 },
    client_fingerprint: { type: 'string', minLength: 1, maxLength: 255, pattern: '\\S' },
    ip_address: { type: ['string', 'null'] },
    user_agent: { type: ['string', 'null'] },
    received_at: { type: 'string' },
    payload: {
      type: 'object',
      required: ['PM'],
      properties: { PM: { type: 'array' } },
    },
  },
} as const;
