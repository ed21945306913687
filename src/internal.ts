// What bench/ and test/ may reach into besides the public API (nats.js's internal_mod.ts): the
// pure layers, codecs and protocol pieces, to test and measure them alone. Not part of the API.
export * from "./index.ts";
export { SlotSet, forEachBit, wordsFor } from "./rooms/bitset.ts";
export { Membership } from "./rooms/membership.ts";
export { DerivedTopics, type DerivedTopicOptions } from "./rooms/derived-topics.ts";
export { Planner, selectRecipients, type Plan, type PlanRequest } from "./rooms/planner.ts";
export { assertRoomName, type Member } from "./rooms/types.ts";
export { encodePacket, decodePacket, decodeEngine, PacketType, type Packet } from "./engine/codec.ts";
export { deconstruct, reconstruct, hasBinary, isBinary, toBytes, MAX_DEPTH, type Frame } from "./engine/binary.ts";
export { ProtocolError } from "./engine/protocol-error.ts";
export { UPGRADE_TRANSITIONS, nextUpgradeState, releasesPolls, type UpgradeEvent, type UpgradeState } from "./engine/upgrade/upgrade-state.ts";
export { SessionUpgrade } from "./engine/upgrade/session-upgrade.ts";
export { PollingTransport } from "./engine/transports/polling.ts";
export { RecordedExchange } from "./engine/http/exchange.ts";
export {
  decodeMessage,
  encodeMessage,
  DuplicateFilter,
  newWorkerId,
  ownerOf,
  Subjects,
  token,
  type BroadcastMessage,
  type InterestMessage,
} from "./cluster/protocol.ts";
export { LocalInterest, PeerInterest } from "./cluster/interest.ts";
export { routeBroadcast, routeSelection, type Route, type RouteView } from "./cluster/route.ts";
export { Parser, type ProtocolHandler } from "./cluster/relay/nats-protocol.ts";
export { defaultMaxConnections, softFdLimit, ConnectionLimits } from "./engine/limits.ts";
export { InboundBudget, type InboundRateLimit } from "./engine/rate-limit.ts";
export type { Logger } from "./engine/logger.ts";
export { SessionRecovery, type RestoredSession } from "./api/recovery/session-recovery.ts";
