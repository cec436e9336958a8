package windows

import (
	"reflect"
	"testing"
)

func TestServiceOptions(t *testing.T) {
	o := ServiceOptions()
	if o["StartType"] != "automatic" || o["DelayedAutoStart"] != true {
		t.Errorf("service must start automatically, delayed: %v", o)
	}
	if o["OnFailure"] != "restart" || o["OnFailureDelayDuration"] != "5s" {
		t.Errorf("service must restart 5 s after a failure: %v", o)
	}
	if _, ok := o["UserName"]; ok {
		t.Errorf("service must run as LocalSystem (no user name): %v", o)
	}
}

func TestServiceArguments(t *testing.T) {
	got := ServiceArguments(`C:\ProgramData\pbxagent\pbxagent.yaml`)
	want := []string{"run", "--config", `C:\ProgramData\pbxagent\pbxagent.yaml`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
