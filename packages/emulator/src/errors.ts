/**
 * Raised when the local AWS emulator cannot be started or reached.
 *
 * @example
 * ```ts
 * try { await startEmulator(); } catch (e) { if (e instanceof EmulatorError) console.error(e.message); }
 * ```
 */
export class EmulatorError extends Error {
  public override readonly name: string = "EmulatorError";
  public constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** moto's server is not installed for the Python interpreter we were told to use. */
export class EmulatorNotInstalledError extends EmulatorError {
  public override readonly name = "EmulatorNotInstalledError";
  public constructor(python: string, detail: string, options?: { cause?: unknown }) {
    super(
      `moto's server (the local AWS emulator) is not available to ${python}: ${detail.trim()}\n` +
        `Install it with: pipx install "moto[server]"  (or: pip install "moto[server]")\n` +
        `Set DISCOVERY_SYNC_PYTHON to use another Python interpreter.`,
      options,
    );
  }
}
