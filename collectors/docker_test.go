package collectors

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Recorded Docker Engine API answers (trimmed) from a PortSIP host.
const dockerListJSON = `[
 {"Id":"4f1c2b6a9d0e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a","Names":["/portsip.callmanager"],
  "Image":"portsip/pbx:22","ImageID":"sha256:9b1e","Command":"/usr/local/bin/callmanager","Created":1760000000,
  "Ports":[],"Labels":{"com.docker.compose.project":"portsip-pbx","com.docker.compose.service":"callmanager"},
  "State":"running","Status":"Up 3 hours (healthy)","HostConfig":{"NetworkMode":"host"},
  "NetworkSettings":{"Networks":{"host":{"NetworkID":"a1"}}},"Mounts":[{"Type":"bind","Source":"/var/lib/portsip/pbx","Destination":"/var/lib/portsip/pbx","RW":true}]},
 {"Id":"7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b","Names":["/portsip.gateway"],
  "Image":"portsip/pbx:22","ImageID":"sha256:9b1e","Command":"/usr/local/bin/apigate","Created":1760000000,
  "Ports":[],"Labels":{"com.docker.compose.service":"gateway"},
  "State":"exited","Status":"Exited (137) 12 minutes ago","HostConfig":{"NetworkMode":"host"}},
 {"Id":"0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c","Names":["/watchtower"],
  "Image":"containrrr/watchtower","ImageID":"sha256:77aa","Command":"/watchtower","Created":1750000000,
  "Ports":[{"PrivatePort":8080,"Type":"tcp"}],"Labels":{},"State":"running","Status":"Up 2 days","HostConfig":{"NetworkMode":"bridge"}}
]`

const inspectCallmanagerJSON = `{"Id":"4f1c2b6a9d0e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a","Created":"2025-10-09T08:53:20.123456789Z",
 "Path":"/usr/local/bin/callmanager","Args":[],
 "State":{"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":1234,"ExitCode":0,"Error":"",
  "StartedAt":"2025-10-09T08:53:21.5Z","FinishedAt":"0001-01-01T00:00:00Z",
  "Health":{"Status":"healthy","FailingStreak":0,"Log":[{"Start":"2025-10-09T11:50:00Z","End":"2025-10-09T11:50:01Z","ExitCode":0,"Output":""}]}},
 "Image":"sha256:9b1e","Name":"/portsip.callmanager","RestartCount":2,"Driver":"overlay2",
 "Config":{"Image":"portsip/pbx:22","Env":["DB_PASSWORD=not-for-reports"]}}`

const inspectGatewayJSON = `{"Id":"7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b","Created":"2025-10-09T08:53:20Z",
 "State":{"Status":"exited","Running":false,"Paused":false,"Restarting":false,"OOMKilled":true,"Dead":false,"Pid":0,"ExitCode":137,"Error":"",
  "StartedAt":"2025-10-09T08:53:22Z","FinishedAt":"2025-10-09T11:40:00Z"},
 "Image":"sha256:9b1e","Name":"/portsip.gateway","RestartCount":0,"Config":{"Image":"portsip/pbx:22"}}`

// fakeDocker serves the Docker Engine API on a Unix socket in a temporary
// folder and returns the socket path.
func fakeDocker(t *testing.T, h http.Handler) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the Docker collector is not used on Windows")
	}
	// A short folder keeps the socket path under the 108-byte sun_path limit.
	dir, err := os.MkdirTemp("", "dk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func recordedDocker(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containers/json", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("all") != "1" {
			t.Errorf("list without all=1: %s", r.URL)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(dockerListJSON))
	})
	mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch id := r.PathValue("id"); {
		case strings.HasPrefix(id, "4f1c"):
			w.Write([]byte(inspectCallmanagerJSON))
		case strings.HasPrefix(id, "7a8b"):
			w.Write([]byte(inspectGatewayJSON))
		default:
			t.Errorf("inspected a container that is not PortSIP's: %s", id)
			http.Error(w, `{"message":"No such container"}`, http.StatusNotFound)
		}
	})
	return mux
}

func TestDocker(t *testing.T) {
	sock := fakeDocker(t, recordedDocker(t))
	rep, err := NewDocker(sock).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s\n%s", rep.State, rep.Summary, rep.Text)
	d := rep.Data.(DockerData)
	if len(d.Containers) != 2 || d.Others != 1 {
		t.Fatalf("containers %+v, others %d", d.Containers, d.Others)
	}
	cm, gw := d.Containers[0], d.Containers[1]
	if cm.Name != "portsip.callmanager" || cm.State != "running" || cm.Health != "healthy" ||
		cm.RestartCount != 2 || cm.Check != StateOK || cm.StartedAt != "2025-10-09T08:53:21.5Z" || cm.ID != "4f1c2b6a9d0e" {
		t.Errorf("callmanager %+v", cm)
	}
	if gw.Name != "portsip.gateway" || gw.State != "exited" || gw.ExitCode != 137 || gw.Check != StateCritical || gw.Problem != "exited" {
		t.Errorf("gateway %+v", gw)
	}
	if rep.State != StateCritical {
		t.Errorf("state %v, want CRITICAL", rep.State)
	}
	if rep.Summary != "1/2 PortSIP containers running; portsip.gateway exited" {
		t.Errorf("summary %q", rep.Summary)
	}
	if strings.Contains(rep.Text, "not-for-reports") {
		t.Error("container environment leaked into the report")
	}
}

func TestDockerStates(t *testing.T) {
	list := `[{"Id":"a1","Names":["/portsip.database"],"State":"running","Status":"Up 1 hour (unhealthy)"},
	          {"Id":"b2","Names":["/portsip.nats"],"State":"restarting","Status":"Restarting (1) 3 seconds ago"},
	          {"Id":"c3","Names":["/portsip.webserver"],"State":"running","Status":"Up 5 seconds (health: starting)"}]`
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containers/json", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(list)) })
	mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "c3" {
			http.Error(w, `{"message":"boom"}`, http.StatusInternalServerError)
			return
		}
		w.Write([]byte(`{"RestartCount":7,"State":{}}`))
	})
	rep, err := NewDocker(fakeDocker(t, mux)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s\n%s", rep.State, rep.Summary, rep.Text)
	d := rep.Data.(DockerData)
	want := map[string]State{"portsip.database": StateCritical, "portsip.nats": StateWarning, "portsip.webserver": StateOK}
	for _, c := range d.Containers {
		if c.Check != want[c.Name] {
			t.Errorf("%s: check %v, want %v (%+v)", c.Name, c.Check, want[c.Name], c)
		}
	}
	if ws := d.Containers[2]; ws.Health != "starting" || !strings.Contains(ws.InspectError, "boom") {
		t.Errorf("webserver %+v", ws)
	}
	if rep.State != StateCritical {
		t.Errorf("state %v", rep.State)
	}

	// Restarting alone is a warning.
	list = `[{"Id":"b2","Names":["/portsip.nats"],"State":"restarting","Status":"Restarting (1) 3 seconds ago"}]`
	rep, err = NewDocker(fakeDocker(t, mux)).Collect(context.Background())
	if err != nil || rep.State != StateWarning {
		t.Fatalf("restarting: %v %v", rep, err)
	}
}

func TestDockerNoSocket(t *testing.T) {
	_, err := NewDocker(filepath.Join(t.TempDir(), "docker.sock")).Collect(context.Background())
	if !errors.Is(err, ErrNoData) {
		t.Fatalf("err = %v, want ErrNoData", err)
	}
	if runtime.GOOS != "windows" && !strings.Contains(err.Error(), "Docker not installed") {
		t.Errorf("reason %q", err)
	}
	if _, err := NewDocker("").Collect(context.Background()); !errors.Is(err, ErrNoData) {
		t.Errorf("empty socket: %v", err)
	}
}

func TestDockerAPIFailure(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"client version 1.99 is too new"}`, http.StatusBadRequest)
	})
	_, err := NewDocker(fakeDocker(t, mux)).Collect(context.Background())
	if err == nil || errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "too new") {
		t.Fatalf("err = %v, want a real API error", err)
	}

	// A socket file nobody listens on is a failure, not "not installed".
	dir, _ := os.MkdirTemp("", "dk")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := NewDocker(sock).Collect(context.Background()); err == nil || errors.Is(err, ErrNoData) {
		t.Fatalf("dead socket: err = %v", err)
	}
}

func TestHealthFromStatus(t *testing.T) {
	for in, want := range map[string]string{
		"Up 3 hours (healthy)":              "healthy",
		"Up 2 minutes (unhealthy)":          "unhealthy",
		"Up 5 seconds (health: starting)":   "starting",
		"Up 2 days":                         "",
		"Exited (137) 12 minutes ago":       "",
		"Up 3 hours (Paused)":               "",
		"Restarting (1) 3 seconds ago":      "",
		"Up 1 hour (healthy":                "",
		"Exited (0) 1 hour ago (unhealthy)": "unhealthy",
	} {
		if got := healthFromStatus(in); got != want {
			t.Errorf("healthFromStatus(%q) = %q, want %q", in, got, want)
		}
	}
}
