import { PutEventsCommand, type EventBridgeClient } from "@aws-sdk/client-eventbridge";

/** An EventBridge event as ECS delivers it (the fields PutEvents takes). */
export interface DeliveredEvent {
  readonly source: string;
  readonly "detail-type": string;
  readonly detail: unknown;
  readonly resources?: string[];
  readonly time: string;
}

/**
 * Puts `events` on the default bus, ten per PutEvents (its limit), and returns the entries that failed (none
 * expected; the caller asserts).
 */
export async function putEventsInTens(events: EventBridgeClient, all: readonly DeliveredEvent[]): Promise<number> {
  let failed = 0;
  for (let i = 0; i < all.length; i += 10) {
    const out = await events.send(
      new PutEventsCommand({
        Entries: all.slice(i, i + 10).map((e) => ({
          Source: e.source,
          DetailType: e["detail-type"],
          Detail: JSON.stringify(e.detail),
          Resources: e.resources,
          Time: new Date(e.time),
        })),
      }),
    );
    failed += out.FailedEntryCount ?? 0;
  }
  return failed;
}
