import type { FastifyPluginAsync } from 'fastify'
import { type AdminRoutes, READ } from '../app'

/** The latest DogStatsD events and service checks kept (oldest first), with counts since start. */
export const eventRoutes: FastifyPluginAsync<AdminRoutes> = async (app, { control }) => {
  app.get('/events', READ, async () => control.snapshot().aggregator.events)
  app.get('/service_checks', READ, async () => control.snapshot().aggregator.serviceChecks)
}
