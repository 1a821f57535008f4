// Package e2e holds livegate's end-to-end tests: real nodes, real pion publishers and
// viewers over loopback, real SQLite/PostgreSQL. It has no non-test code.
package e2e
