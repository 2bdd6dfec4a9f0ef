// Package testbin builds the kelson binary for tests that run it as a
// process (packages e2e and chaos).
package testbin
