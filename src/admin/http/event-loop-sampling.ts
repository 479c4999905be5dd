/**
 * How often the Node metrics sample event-loop delay. prom-client's default
 * of 10 ms is a hundred wake-ups a second, most of an idle server's CPU;
 * 100 ms still shows any stall long enough to cost a read (the drain slice
 * is 5 ms). Apart from the registries and the route so that neither
 * imports the other.
 */
export const EVENT_LOOP_SAMPLE_MS = 100
