import type { IClientOptions } from 'mqtt';
import type { MqttSettings } from '../../config/index.ts';
import { tlsOptions } from '../tls.ts';

/**
 * MQTT.js connect arguments from MQTT_URL and MQTT_TLS_*. Credentials leave the URL and
 * become options: MQTT.js splits `user:pass` at the last colon (a password with a colon
 * would log in with the wrong user), and a URL without them cannot leak into an error.
 */
export function mqttConnection(s: Pick<MqttSettings, 'url' | 'tls'>): { url: string; options: IClientOptions } {
  const u = new URL(s.url);
  const options: IClientOptions = {};
  if (u.username !== '') options.username = decodeURIComponent(u.username);
  if (u.password !== '') options.password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  if (s.tls !== undefined) Object.assign(options, tlsOptions(s.tls));
  return { url: u.toString(), options };
}
