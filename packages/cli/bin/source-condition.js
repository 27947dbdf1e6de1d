// A module resolve hook that adds the "source" export condition, so workspace packages resolve to their TypeScript
// sources (see packages/*/package.json "exports"), as `node --conditions=source` would.
export async function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions.includes("source") ? context.conditions : [...context.conditions, "source"];
  return nextResolve(specifier, { ...context, conditions });
}
