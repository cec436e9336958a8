package analyze

import (
	"encoding/json"
	"fmt"

	"github.com/pbxagent/pbxagent/collectors"
)

// Check states of a host statement: every statement the report makes
// about the host comes from a check that ran, or says it did not run.
const (
	CheckFine       = "fine"
	CheckProblem    = "problem"
	CheckNotChecked = "not checked"
)

// HostCheck is one host statement with the state of its check.
type HostCheck struct {
	// Name is "gateway", "containers", "disks" or "blocked_ips".
	Name string `json:"name"`
	// State is "fine", "problem" or "not checked".
	State string `json:"state"`
	// Detail is the check's summary, or why it did not run.
	Detail string `json:"detail"`
}

// hostCheckSources maps each statement to the system/ files that can
// back it, in order of preference.
var hostCheckSources = []struct {
	name  string
	files []string
}{
	{"gateway", []string{"gateway"}},
	{"containers", []string{"docker", "containers"}},
	{"disks", []string{"disk", "mounts"}},
	{"blocked_ips", []string{"blocked_ips"}},
}

// hostChecks states, for each host statement, whether its check ran and
// what it found; problem tells whether the analysis extracted a problem.
func hostChecks(system map[string][]byte, problem map[string]bool) []HostCheck {
	var out []HostCheck
	for _, src := range hostCheckSources {
		c := HostCheck{Name: src.name, State: CheckNotChecked,
			Detail: fmt.Sprintf("the bundle holds no system/%s.json", src.files[0])}
		for _, f := range src.files {
			raw, ok := system[f]
			if !ok {
				continue
			}
			c = checkFromOutcome(src.name, f, raw, problem[src.name])
			break
		}
		out = append(out, c)
	}
	return out
}

func checkFromOutcome(name, file string, raw []byte, problem bool) HostCheck {
	c := HostCheck{Name: name, State: CheckNotChecked}
	var o outcome
	switch {
	case json.Unmarshal(raw, &o) != nil:
		c.Detail = fmt.Sprintf("system/%s.json cannot be read", file)
	case o.NoData:
		c.Detail = "not applicable on this host"
		if o.Error != "" {
			c.Detail += ": " + o.Error
		}
	case o.Report == nil:
		c.Detail = "the check failed: " + o.Error
	case o.Report.State == collectors.StateUnknown && !problem:
		c.Detail = "the check could not decide: " + o.Report.Summary
	case problem || o.Report.State == collectors.StateWarning || o.Report.State == collectors.StateCritical:
		c.State, c.Detail = CheckProblem, o.Report.Summary
	default:
		c.State, c.Detail = CheckFine, o.Report.Summary
	}
	return c
}

// Check returns the host statement called name.
func (h *HostState) Check(name string) HostCheck {
	for _, c := range h.Checks {
		if c.Name == name {
			return c
		}
	}
	// A report without checks (made before they existed): only what it
	// lists as a problem is known.
	c := HostCheck{Name: name, State: CheckNotChecked, Detail: "the analysis did not record this check"}
	if (name == "gateway" && h.Gateway != "") || (name == "containers" && len(h.Containers) > 0) ||
		(name == "disks" && len(h.Disks) > 0) || (name == "blocked_ips" && len(h.Blocked) > 0) {
		c.State, c.Detail = CheckProblem, ""
	}
	return c
}
