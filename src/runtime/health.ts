/**
 * Readiness: every component (database, each source and publisher, each pipeline) reports
 * here; /ready is 200 only when none has a reason to be unready.
 */
export class Readiness {
  readonly #reasons = new Map<string, string>();

  set(component: string, reason: string | null): void {
    if (reason === null) this.#reasons.delete(component);
    else this.#reasons.set(component, reason);
  }

  get ready(): boolean {
    return this.#reasons.size === 0;
  }

  reasons(): string[] {
    return [...this.#reasons].map(([component, reason]) => `${component}: ${reason}`);
  }
}
