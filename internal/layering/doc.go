// Package layering holds no code: its test keeps the packages' imports to the table of
// allowed edges in layering_test.go, and docs/ARCHITECTURE.md's map to that table.
package layering
