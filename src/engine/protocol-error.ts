// The error for malformed input from a peer (a client's frame, another worker's payload): the
// session answers it as "parse error", the cluster drops the message. Anything else thrown while
// handling input is a bug of ours and is logged as such. Knows nothing of who throws or catches it.

export class ProtocolError extends Error {}
