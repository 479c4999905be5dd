/** The largest UDP payload over IPv4. (Apart from the config schema, so that code that runs needs no zod.) */
export const MAX_UDP_PAYLOAD = 65_507
