// The counter lives in the emulator package so that `npm run bench` (scripts/bench.ts) counts requests the same way.
export { requestCounter, type RequestCounter } from "@discovery-sync/emulator";
