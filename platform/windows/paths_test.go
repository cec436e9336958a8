package windows

import "testing"

func TestDefaultPaths(t *testing.T) {
	env := map[string]string{"ProgramData": `D:\PD\`, "ProgramFiles": `E:\Apps`}
	p := DefaultPaths(func(k string) string { return env[k] })
	want := Paths{
		ConfigFile:    `D:\PD\pbxagent\pbxagent.yaml`,
		StateDir:      `D:\PD\pbxagent`,
		PBXDataDir:    `D:\PD\PortSIP\pbx`,
		PBXInstallDir: `E:\Apps\PortSIP`,
	}
	if p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	p = DefaultPaths(func(string) string { return "" })
	if p.PBXDataDir != `C:\ProgramData\PortSIP\pbx` || p.ConfigFile != `C:\ProgramData\pbxagent\pbxagent.yaml` {
		t.Fatalf("fallback paths wrong: %+v", p)
	}
}
