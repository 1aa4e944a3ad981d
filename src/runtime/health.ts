import { redactText } from './redact.ts';

/**
 * Readiness: every component (database, each source and publisher, each pipeline) reports
 * here; /ready is 200 only when none has a reason to be unready. Reasons are client error
 * messages served over HTTP: URL credentials are stripped on the way in.
 */
export class Readiness {
  readonly #reasons = new Map<string, string>();

  set(component: string, reason: string | null): void {
    if (reason === null) this.#reasons.delete(component);
    else this.#reasons.set(component, redactText(reason));
  }

  get ready(): boolean {
    return this.#reasons.size === 0;
  }

  reasons(): string[] {
    return [...this.#reasons].map(([component, reason]) => `${component}: ${reason}`);
  }
}
