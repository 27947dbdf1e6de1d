// Under Node 20 the AWS SDK prints, on every run, that its releases after early 2027 need Node 22: a notice about the
// SDK, not about this command's answer, and eight lines of it before every answer. Set before the SDK loads, hence
// the dynamic imports below; an explicit setting in the environment wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const { processIo } = await import("./io.js");
const { run } = await import("./program.js");

process.exitCode = await run(process.argv.slice(2), processIo());
