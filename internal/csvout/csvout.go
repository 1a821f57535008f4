// Package csvout writes the CSV files the node hands to operators and creators, safe to
// open in a spreadsheet: a cell that a spreadsheet would take for a formula (starting
// with =, +, -, @, a tab or a carriage return, as OWASP lists them) is written with a
// leading apostrophe, so a creator named =HYPERLINK(...) is text, never a formula. Plain
// numbers, negative ones included, are written as they are.
package csvout

import (
	"encoding/csv"
	"io"
)

// Writer is an encoding/csv Writer that neutralises formula cells.
type Writer struct {
	w   *csv.Writer
	buf []string
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one record, each cell made safe.
func (w *Writer) Write(record []string) error {
	w.buf = w.buf[:0]
	for _, cell := range record {
		w.buf = append(w.buf, Cell(cell))
	}
	return w.w.Write(w.buf)
}

// Flush writes what is buffered; Error says whether a write or the flush failed.
func (w *Writer) Flush()       { w.w.Flush() }
func (w *Writer) Error() error { return w.w.Error() }

// Cell is s as a spreadsheet reads it as text: with an apostrophe before a leading =, +,
// -, @, tab or carriage return, unless s is a plain decimal number.
func Cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '@', '\t', '\r':
		return "'" + s
	case '+', '-':
		if isDecimal(s) {
			return s
		}
		return "'" + s
	}
	return s
}

// isDecimal says whether s is a sign, digits and at most one point (no exponent, Inf or
// NaN: nothing a spreadsheet could read otherwise).
func isDecimal(s string) bool {
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	point, digits := false, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point:
			point = true
		default:
			return false
		}
	}
	return digits > 0
}
