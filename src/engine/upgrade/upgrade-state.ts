// The states of an upgrade from long-polling to WebSocket and the one table of their transitions.
// A polling session held here goes through the first group (its own probe, or a move to the worker
// another WebSocket landed on); a WebSocket opened here for a session another worker holds goes
// through the second (the session moving in). Pure: knows no transport, no session, no timer; the
// session's upgrade (session-upgrade.ts) and the move (remote-upgrade.ts) act on what it says.

export type UpgradeState =
  // A polling session held here.
  /** No upgrade in progress. */
  | "none"
  /** A WebSocket was accepted to probe the session (no second one is); it is not open yet. */
  | "reserved"
  /** The probe's WebSocket is open; polls are held. */
  | "probing"
  /** `3probe` sent: polls are answered at once (a noop when nothing waits) so the client can pause polling. */
  | "released"
  /** `5`: the session runs on the WebSocket. */
  | "upgraded"
  /** A WebSocket on another worker probes the session: polls released until the hand-off. */
  | "moving out"
  /** Handed off to that worker. */
  | "moved out"
  // A WebSocket here for a polling session another worker holds.
  /** Open; `2probe` awaited. */
  | "moving in"
  /** `2probe` in: the owner is asked to release its polls; `3probe` once it has. */
  | "move ready"
  /** `5` in: the session is taken from the owner and its sockets restored here; the client's frames wait. */
  | "taking"
  /** The session runs here. */
  | "moved in";

export type UpgradeEvent =
  /** A WebSocket is accepted to probe the session. */
  | "accept"
  /** That WebSocket opened. */
  | "open"
  /** The client's `2probe`. */
  | "2probe"
  /** The client's `5`: switch. */
  | "5"
  /** A WebSocket on another worker probes the session (SessionOwner.prepareMove). */
  | "prepare move"
  /** That worker takes the session (SessionOwner.handOff). */
  | "hand off"
  /** That worker's probe ended before the switch (SessionOwner.cancelMove): a local probe goes on. */
  | "cancel move"
  /** The moved session's sockets are restored here. */
  | "adopted"
  /** Given up before the switch: upgradeTimeout, an unexpected frame, the session closing, the move
   *  refused or cancelled. Not once `5` has come: then the switch goes on. */
  | "abandon"
  /** The probe's WebSocket closed. */
  | "close"
  /** The move could not complete after `5` (the owner handed nothing, or a socket was not restored). */
  | "fail";

/** Where each event leads from each state; an event a state does not list is ignored there. */
export const UPGRADE_TRANSITIONS: { readonly [S in UpgradeState]: { readonly [E in UpgradeEvent]?: UpgradeState } } = {
  none: { accept: "reserved", "prepare move": "moving out" },
  reserved: { open: "probing", abandon: "none" },
  probing: { "2probe": "released", "5": "upgraded", abandon: "none", close: "none" },
  // A repeated `2probe` is answered again (as Engine.IO does).
  released: { "2probe": "released", "5": "upgraded", abandon: "none", close: "none" },
  upgraded: {},
  "moving out": { "hand off": "moved out", "cancel move": "none", abandon: "none" },
  "moved out": {},
  "moving in": { "2probe": "move ready", abandon: "none", close: "none" },
  "move ready": { "5": "taking", abandon: "none", close: "none" },
  taking: { adopted: "moved in", fail: "none", close: "none" },
  "moved in": {},
};

/** The state `event` leads to from `state`, or null when it has no transition there. */
export function nextUpgradeState(state: UpgradeState, event: UpgradeEvent): UpgradeState | null {
  return UPGRADE_TRANSITIONS[state][event] ?? null;
}

/** Whether the session's polls are answered at once in `state` (so its client can pause polling). */
export function releasesPolls(state: UpgradeState): boolean {
  return state === "released" || state === "moving out";
}
