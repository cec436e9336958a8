package main

import (
	"fmt"
	"strings"

	"github.com/pbxagent/pbxagent/collectors"
)

// nagiosUnknown is the plugin exit code of a status that cannot be told.
const nagiosUnknown = 3

// nagiosResult renders outcomes as a Nagios/Icinga plugin result: the exit
// code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; CRITICAL outranks UNKNOWN),
// one status line naming the checks that are not OK, and one line of
// performance data with each applicable check's state code
// ('check'=code;1;2;0;3, warning at 1, critical at 2).
func nagiosResult(outs []collectors.Outcome) (int, string) {
	worst := collectors.Worst(outs)
	var bad, perf []string
	applicable := 0
	for _, o := range outs {
		if !o.Applicable() {
			continue
		}
		applicable++
		s := o.State()
		perf = append(perf, fmt.Sprintf("'%s'=%d;1;2;0;3", perfLabel(o.Name), s.Code()))
		if s != collectors.StateOK {
			bad = append(bad, fmt.Sprintf("%s %s: %s", o.Name, s, oneLine(o.Line())))
		}
	}
	text := fmt.Sprintf("all %d checks OK", applicable)
	if len(bad) > 0 {
		text = strings.Join(bad, "; ")
	}
	return worst.Code(), fmt.Sprintf("PBXAGENT %s - %s | %s", worst, text, strings.Join(perf, " "))
}

// perfLabel makes a check name safe inside a quoted perfdata label.
func perfLabel(s string) string { return strings.NewReplacer("'", "", "=", "_").Replace(s) }

// oneLine keeps a summary on the plugin's single status line: no line
// breaks and no "|", which starts the performance data.
func oneLine(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "|", "/").Replace(s)
}
