/**
 * A Durable Object has one alarm; the hub needs it for three jobs: retrying the relay (with backoff),
 * closing sockets whose token expired, and checking the API keys of its token sockets. Each job asks
 * for a time; the earliest wanted time wins. When the alarm fires, every job runs in order and says
 * when it wants the alarm next, and the alarm is armed again for the earliest of those.
 */
export type AlarmJob = () => Promise<number | null> | number | null;

export class AlarmScheduler {
  /** When the pending alarm fires (ms), as far as this instance knows; null: none. */
  private at: number | null = null;

  constructor(private readonly storage: DurableObjectStorage) {}

  /** Reads the stored alarm (in the constructor's blockConcurrencyWhile, so that the first wakeAt knows it). */
  async load(): Promise<void> {
    this.at = await this.storage.getAlarm();
  }

  /**
   * Have the alarm fire no later than `at` (ms) — or, given `latest`, at any time up to it: an alarm
   * already pending by then is kept, and none is set (each `setAlarm` is billed as a row written).
   */
  async wakeAt(at: number, latest = at): Promise<void> {
    if (this.at !== null && this.at <= latest) return;
    this.at = at;
    await this.storage.setAlarm(at);
  }

  /** The hub's `alarm()`: runs each job, then arms the alarm once, for the earliest time the jobs still want. */
  async fire(jobs: AlarmJob[]): Promise<void> {
    this.at = null;
    let next: number | null = null;
    for (const job of jobs) {
      const at = await job();
      if (at !== null && (next === null || at < next)) next = at;
    }
    if (next !== null) await this.wakeAt(next);
  }

  /** Deletes the pending alarm (an erase). */
  async cancel(): Promise<void> {
    await this.storage.deleteAlarm();
    this.at = null;
  }
}
