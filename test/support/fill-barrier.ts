/** Holds loaders of one name between their database read and their fill, until released. */
export class FillBarrier {
  #armed: string | null = null;
  #reached!: () => void;
  #release!: () => void;
  reached = Promise.resolve();
  arm(name: string): void {
    this.#armed = name;
    this.reached = new Promise((r) => { this.#reached = r; });
  }
  release(): void {
    this.#release?.();
  }
  hook = async (name: string): Promise<void> => {
    if (name !== this.#armed) return;
    this.#armed = null;
    const released = new Promise<void>((r) => { this.#release = r; });
    this.#reached();
    await released;
  };
}
