// Package wire is the broker's versioned binary protocol.
//
// Transport: a SOCK_SEQPACKET Unix socket, so the kernel keeps message
// boundaries and one recvmsg returns exactly one message (or reports
// truncation). Each message is a fixed 20-byte header followed by a body;
// file descriptors ride along in one SCM_RIGHTS control message.
//
//	offset size field
//	0      2    magic 0xCAFD (little-endian, like every integer here)
//	2      1    version: 1, or 2 for a batch (the Hello exchange negotiates
//	            which a peer may send)
//	3      1    kind: request, reply, error
//	4      2    op
//	6      1    fds: how many descriptors travel with the message (0 or 1)
//	7      1    flags: want-fd (Open, Reopen), no-reply (Close)
//	8      4    request id: chosen by the client, echoed by the reply
//	12     4    handle: the capability the operation acts on
//	16     4    body length: exactly the bytes that follow the header
//
// The header layout is frozen across versions; only bodies may change. That
// way a Hello from any client parses in any server, which then answers with
// the highest version both sides speak.
//
// A body is the op's fixed sequence of fields (its schema, see fields.go):
// integers are fixed-width, strings and byte slices carry an explicit length,
// lists carry an element count that is checked against the bytes left before
// anything is allocated. A body must be consumed exactly: trailing bytes are an
// error. So a decoder's allocations are bounded by the message size, which is
// itself bounded by the receive buffer (MaxMessage).
//
// Request ids let a client pipeline many requests on one connection; replies
// may arrive in any order and are matched by id. Between peers that
// negotiated version 2, a batch (batch.go) carries several whole messages
// in one datagram; the receiver splits it and handles each as if it had
// come alone.
//
// Descriptor hygiene: every descriptor that arrives with a message the
// receiver rejects (malformed, truncated, unexpected) is closed before the
// error is returned, so hostile input can never make a process leak fds.
package wire
