// Package brokertest holds what the broker's tests share between the
// in-process tests (package broker) and the end-to-end tests against the
// broker process (tests/broker): a client that speaks the wire protocol
// without capfd's client-side checks, as a compromised client would, and
// the table of every operation with the rights it needs; and an audit log
// to read the broker's records back from.
package brokertest
