package follow

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// writerEnv, set in the environment of the test binary, makes it a log
// writer process (see runWriter) instead of running tests.
const writerEnv = "FOLLOW_TEST_WRITER"

func TestMain(m *testing.M) {
	if path := os.Getenv(writerEnv); path != "" {
		if err := runWriter(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Load of the CPU benchmark: 10,000 lines a second for 5 seconds, each
// line its own write, spread evenly.
const (
	cpuRate     = 10000
	cpuDuration = 5 * time.Second
)

// runWriter opens path, prints "ready", appends cpuRate numbered lines a
// second to it for cpuDuration, one write per line, then prints the number
// of lines.
func runWriter(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Println("ready")
	total := int(cpuDuration.Seconds() * cpuRate)
	interval := time.Second / cpuRate
	start := time.Now()
	for n := 1; n <= total; n++ {
		if d := time.Until(start.Add(time.Duration(n) * interval)); d > 0 {
			time.Sleep(d)
		}
		if _, err := f.WriteString(line(n)); err != nil {
			return err
		}
	}
	fmt.Println(total)
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countWriter counts bytes and writes.
type countWriter struct{ bytes, writes int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.bytes += int64(len(p))
	c.writes++
	return len(p), nil
}

// BenchmarkFollowCPU measures the CPU time this process spends following a
// log that another process writes cpuRate lines a second to for
// cpuDuration, with the agent's poll interval, with change notification
// and with polling only. Run it with -benchtime=1x:
//
//	go test -run '^$' -bench FollowCPU -benchtime=1x ./follow/
func BenchmarkFollowCPU(b *testing.B) {
	for _, bc := range []struct {
		name    string
		noWatch bool
	}{{"watch", false}, {"poll", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var cpu time.Duration
			var reads int64
			for range b.N {
				c, r := followCPU(b, Options{Poll: 25 * time.Millisecond, NoWatch: bc.noWatch})
				cpu += c
				reads += r
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(reads)/float64(b.N), "writes/op")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// followCPU runs one follow of the writer process and returns the CPU time
// used and the number of writes Run made to its writer (about one per
// read step that found data).
func followCPU(b *testing.B, opt Options) (time.Duration, int64) {
	path := filepath.Join(b.TempDir(), "callmanager.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	fl, err := Open(path, opt)
	if err != nil {
		b.Fatal(err)
	}
	defer fl.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), writerEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out countWriter
	cpu0 := cpuTime()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// Start following once the writer has the file open, as the PBX has
	// when the agent starts following.
	sc := bufio.NewScanner(stdout)
	sc.Scan()
	res := make(chan error, 1)
	go func() {
		_, err := fl.Run(ctx, &out)
		res <- err
	}()
	sc.Scan()
	total, _ := strconv.Atoi(sc.Text())
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	cancel()
	if err := <-res; err != nil {
		b.Fatal(err)
	}
	cpu := cpuTime() - cpu0
	if out.bytes != int64(total*lineLen) {
		b.Fatalf("followed %d bytes, want %d", out.bytes, total*lineLen)
	}
	return cpu, out.writes
}
