package portsip

import (
	"encoding/json"
	"testing"
)

func FuzzParseFilterPage(f *testing.F) {
	for _, s := range []string{
		`[]`, `{}`, `[{"id":1,"cidr":"203.0.113.9","target":"DENY","expire_at":"2025-06-01T14:05:00Z"}]`,
		`{"items":[{"cidr":"10.0.0.0/8","target":"ACCEPT","expire_at":0}],"count":1}`,
		`{"data":{"items":[{"ip":"::1","action":"deny","expires_at":1748786700000}],"total":"1"}}`,
		`{"value":[null,1,"x",{"cidr":{}}]}`, `{"@odata.count":-1,"Value":[]}`, `[1,`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, total, err := parseFilterPage(b)
		if err != nil && (entries != nil || total != -1) {
			t.Fatalf("error with results: %v %d", entries, total)
		}
		for _, e := range entries {
			_, _ = e.Prefix()
			_ = e.key()
			if _, err := json.Marshal(e); err != nil {
				t.Fatalf("entry does not encode: %v", err)
			}
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{`"2025-06-01T14:05:00Z"`, `1748786700`, `1748786700123`, `"1748786700"`, `null`, `""`, `-1`, `1e308`, `"NaN"`, `"Inf"`, `9e18`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		at, err := ParseTime(b)
		if err != nil && !at.IsZero() {
			t.Fatalf("error with a time: %v", at)
		}
		if err == nil && !at.IsZero() {
			_ = at.Format("2006-01-02 15:04")
			if _, err := at.MarshalJSON(); err != nil {
				t.Fatalf("%s: %v does not encode: %v", b, at, err)
			}
		}
	})
}

func FuzzParseCDRs(f *testing.F) {
	for _, s := range []string{
		`{"count":2,"items":[{"id":"1","status_code":403,"trunk":"carrier-a","ended_at":"2026-12-04T12:00:00Z"},{"id":2,"status_code":"200"}]}`,
		`[]`, `{"items":null}`, `{"items":[1,"x",null,{"status_code":1e40,"ended_at":-5}]}`, `[{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cdrs, total, err := parseCDRs(b)
		if err != nil && (cdrs != nil || total != -1) {
			t.Fatalf("error with results: %v %d", cdrs, total)
		}
		for _, c := range cdrs {
			if c.StatusCode < 0 {
				t.Fatalf("negative status %d", c.StatusCode)
			}
			if _, err := json.Marshal(c); err != nil {
				t.Fatalf("CDR does not encode: %v", err)
			}
		}
	})
}
