package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// PortSIPContainerPrefix starts the name of every PortSIP container.
const PortSIPContainerPrefix = "portsip."

// maxDockerBody caps one Docker API response.
const maxDockerBody = 16 << 20

// Docker reports the PortSIP containers through the Docker Engine API on its
// Unix socket.
type Docker struct {
	socket string
}

// NewDocker returns the container collector for the Docker Engine API socket
// (config.Config.PBX.DockerSocket; empty disables it).
func NewDocker(socket string) *Docker { return &Docker{socket: socket} }

// Container is one PortSIP container.
type Container struct {
	Name  string `json:"name"`
	ID    string `json:"id"`
	Image string `json:"image"`
	// State is Docker's state: created, running, restarting, exited, paused, dead.
	State string `json:"state"`
	// Status is Docker's text, e.g. "Up 3 hours (healthy)".
	Status string `json:"status"`
	// Health is healthy, unhealthy, starting, or empty without a health check.
	Health       string `json:"health,omitempty"`
	RestartCount int    `json:"restart_count"`
	ExitCode     int    `json:"exit_code,omitempty"`
	StartedAt    string `json:"started_at,omitempty"`
	InspectError string `json:"inspect_error,omitempty"`
	// Check is this container's verdict and Problem says why when it is not OK.
	Check   State  `json:"check"`
	Problem string `json:"problem,omitempty"`
}

// DockerData is the docker collector's Data.
type DockerData struct {
	Socket     string      `json:"socket"`
	Containers []Container `json:"containers"`
	// Others counts the containers that are not PortSIP's.
	Others int `json:"other_containers"`
}

// ContainerCheck is the health verdict on one PortSIP container, shared with
// the alert rules: restarting is WARNING; not running, or running but
// unhealthy, is CRITICAL.
func ContainerCheck(state, health string) (State, string) {
	switch {
	case state == "restarting":
		return StateWarning, "restarting"
	case state != "running":
		if state == "" {
			state = "unknown"
		}
		return StateCritical, state
	case health == "unhealthy":
		return StateCritical, "unhealthy"
	default:
		return StateOK, ""
	}
}

// Collect lists the portsip.* containers. It returns ErrNoData when Docker is
// not installed (no socket) and an error when the socket exists but the API
// does not answer.
func (dk *Docker) Collect(ctx context.Context) (*Report, error) {
	if runtime.GOOS == "windows" {
		return nil, noData("Docker socket not supported on Windows; PortSIP services are checked separately")
	}
	if dk.socket == "" {
		return nil, noData("Docker socket not configured")
	}
	if _, err := os.Stat(dk.socket); errors.Is(err, os.ErrNotExist) {
		return nil, noData("Docker not installed (no socket at %s)", dk.socket)
	} else if err != nil {
		return nil, fmt.Errorf("docker socket: %w", err)
	}
	client, closeIdle := dk.client()
	defer closeIdle()
	var list []dockerListItem
	if err := dockerGet(ctx, client, "/containers/json?all=1", &list); err != nil {
		return nil, fmt.Errorf("docker: list containers: %w", err)
	}
	d := DockerData{Socket: dk.socket, Containers: []Container{}}
	for _, it := range list {
		name := containerName(it.Names)
		if !strings.HasPrefix(name, PortSIPContainerPrefix) {
			d.Others++
			continue
		}
		c, err := inspectContainer(ctx, client, name, it)
		if err != nil {
			return nil, err
		}
		d.Containers = append(d.Containers, c)
	}
	sort.Slice(d.Containers, func(i, j int) bool { return d.Containers[i].Name < d.Containers[j].Name })
	return dockerReport(d), nil
}

// client returns an HTTP client speaking to the Docker socket, and the
// function that closes its idle connections.
func (dk *Docker) client() (*http.Client, func()) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", dk.socket)
		},
		MaxIdleConns:          2,
		ResponseHeaderTimeout: 10 * time.Second,
	}
	return &http.Client{Transport: tr}, tr.CloseIdleConnections
}

// dockerListItem is one container in Docker's container list.
type dockerListItem struct {
	ID     string   `json:"Id"`
	Names  []string `json:"Names"`
	Image  string   `json:"Image"`
	State  string   `json:"State"`
	Status string   `json:"Status"`
}

// dockerInspect is the part of Docker's container inspection the check reads.
type dockerInspect struct {
	RestartCount int `json:"RestartCount"`
	State        struct {
		Status    string `json:"Status"`
		ExitCode  int    `json:"ExitCode"`
		StartedAt string `json:"StartedAt"`
		Health    *struct {
			Status string `json:"Status"`
		} `json:"Health"`
	} `json:"State"`
}

// inspectContainer completes the list entry it with Docker's inspection; a
// failed inspection is kept in the container, a cancelled one is an error.
func inspectContainer(ctx context.Context, client *http.Client, name string, it dockerListItem) (Container, error) {
	c := Container{Name: name, ID: shortID(it.ID), Image: it.Image, State: it.State, Status: it.Status,
		Health: healthFromStatus(it.Status)}
	var ins dockerInspect
	if err := dockerGet(ctx, client, "/containers/"+url.PathEscape(it.ID)+"/json", &ins); err != nil {
		if ctx.Err() != nil {
			return c, fmt.Errorf("docker: inspect %s: %w", name, ctx.Err())
		}
		c.InspectError = err.Error()
	} else {
		c.RestartCount = ins.RestartCount
		c.ExitCode = ins.State.ExitCode
		if ins.State.Status != "" {
			c.State = ins.State.Status
		}
		if ins.State.Health != nil && ins.State.Health.Status != "" && ins.State.Health.Status != "none" {
			c.Health = ins.State.Health.Status
		}
		if !strings.HasPrefix(ins.State.StartedAt, "0001-") {
			c.StartedAt = ins.State.StartedAt
		}
	}
	if c.State == "running" {
		c.ExitCode = 0
	}
	c.Check, c.Problem = ContainerCheck(c.State, c.Health)
	return c, nil
}

func dockerReport(d DockerData) *Report {
	rep := &Report{State: StateOK, Data: d}
	running := 0
	var problems []string
	rows := [][]string{{"NAME", "STATE", "HEALTH", "RESTARTS", "STATUS", "IMAGE"}}
	for _, c := range d.Containers {
		up := 0.0
		if c.State == "running" {
			running++
			up = 1
		}
		if c.Check > rep.State {
			rep.State = c.Check
		}
		if c.Problem != "" {
			problems = append(problems, c.Name+" "+c.Problem)
		}
		label := map[string]string{"container": c.Name}
		rep.Metrics = append(rep.Metrics,
			Metric{Name: "container_running", Value: up, Label: label},
			Metric{Name: "container_restart_count", Value: float64(c.RestartCount), Label: label})
		restarts := fmt.Sprint(c.RestartCount)
		if c.InspectError != "" {
			restarts = "?"
		}
		rows = append(rows, []string{c.Name, c.State, orDash(c.Health), restarts, c.Status, c.Image})
	}
	rep.Metrics = append(rep.Metrics,
		Metric{Name: "portsip_containers", Value: float64(len(d.Containers))},
		Metric{Name: "portsip_containers_running", Value: float64(running)})
	if len(d.Containers) == 0 {
		rep.Summary = fmt.Sprintf("no portsip.* containers (%d other containers)", d.Others)
		rep.Text = rep.Summary + "\n"
		return rep
	}
	rep.Summary = fmt.Sprintf("%d/%d PortSIP containers running", running, len(d.Containers))
	if len(problems) > 0 {
		rep.Summary += "; " + strings.Join(problems, ", ")
	}
	rep.Text = textTable(rows)
	for _, c := range d.Containers {
		if c.InspectError != "" {
			rep.Text += fmt.Sprintf("inspect %s: %s\n", c.Name, c.InspectError)
		}
	}
	return rep
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// dockerGet GETs one Docker Engine API path and decodes its JSON answer.
func dockerGet(ctx context.Context, client *http.Client, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDockerBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var msg struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &msg) != nil || msg.Message == "" {
			msg.Message = truncate(strings.TrimSpace(string(body)), 200)
		}
		return fmt.Errorf("%s: %s", resp.Status, msg.Message)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

func containerName(names []string) string {
	for _, n := range names {
		n = strings.TrimPrefix(n, "/")
		if strings.HasPrefix(n, PortSIPContainerPrefix) {
			return n
		}
	}
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	return ""
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// healthFromStatus reads the health out of Docker's status text:
// "Up 3 hours (healthy)", "Up 2 minutes (unhealthy)", "Up 5 seconds (health: starting)".
// It returns "" when the text names no health.
func healthFromStatus(status string) string {
	for s := status; ; {
		open := strings.IndexByte(s, '(')
		if open < 0 {
			return ""
		}
		s = s[open+1:]
		end := strings.IndexByte(s, ')')
		if end < 0 {
			return ""
		}
		switch h := strings.ToLower(strings.TrimSpace(s[:end])); h {
		case "healthy", "unhealthy":
			return h
		case "health: starting":
			return "starting"
		}
		s = s[end+1:]
	}
}
