import { EmulatorError } from "../errors.js";

/**
 * A step of provisioning or driving the demo world failed. `step` names what was being done, `context` to what.
 * The SDK error (or moto's answer) is the `cause`.
 *
 * @example
 * ```ts
 * try { await provisionWorld(clients); }
 * catch (e) { if (e instanceof WorldError) console.error(e.step, e.context, e.cause); }
 * ```
 */
export class WorldError extends EmulatorError {
  public override readonly name = "WorldError";
  public constructor(
    message: string,
    public readonly step: string,
    public readonly context: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Runs one SDK call, wrapping any failure in a {@link WorldError} that names the step.
 *
 * @internal
 */
export async function step<T>(name: string, context: Readonly<Record<string, unknown>>, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof WorldError) throw error;
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new WorldError(`${name} failed (${JSON.stringify(context)}): ${reason}`, name, context, { cause: error });
  }
}

/**
 * Fails with a {@link WorldError} when the emulator left out a field we need.
 *
 * @internal
 */
export function required<T>(value: T | undefined | null, what: string, stepName: string): T {
  if (value === undefined || value === null) {
    throw new WorldError(`${stepName}: the emulator's answer has no ${what}`, stepName, { missing: what });
  }
  return value;
}
