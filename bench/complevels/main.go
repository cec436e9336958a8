//go:build linux

// Command complevels compresses one file with the pgzip and zstd encoders
// the bundle uses, at several levels and block settings, and prints the
// output size, wall time, CPU time and peak heap of each: the data behind
// the gzip and zstd settings in bundle/compress.go and bundle/format.go.
//
//	go run ./bench/complevels --gzip 1,2,3,4,5,6 --zstd 1,2 bench/out/pbx/log/callmanager.log
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

func main() {
	gzLevels := flag.String("gzip", "1,2,3,4,5,6,7,9", "pgzip levels to try (empty: none)")
	blocks := flag.String("blocks", "1048576", "pgzip block sizes in bytes")
	conc := flag.String("conc", "", "pgzip blocks in flight (default: 2×GOMAXPROCS)")
	zsLevels := flag.String("zstd", "1,2,3", "zstd encoder levels to try: 1 fastest, 2 default, 3 better, 4 best (empty: none)")
	zwin := flag.Int("zwindow", 0, "zstd window size in bytes (0: the level's default)")
	zconc := flag.Int("zconc", 0, "zstd encoder concurrency (0: GOMAXPROCS)")
	zcrc := flag.Bool("zcrc", true, "zstd frame checksum")
	zjobs := flag.Bool("zjobs", false, "zstd job-based parallel stream compression (WithConcurrentBlocks)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: complevels [flags] FILE")
		os.Exit(2)
	}
	file := flag.Arg(0)
	fi, err := os.Stat(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("| encoder | level | block | in flight | output bytes | ratio | wall s | CPU s | MB/s | peak heap MiB |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	concs := ints(*conc)
	if len(concs) == 0 {
		concs = []int{2 * runtime.GOMAXPROCS(0)}
	}
	for _, lv := range ints(*gzLevels) {
		for _, bs := range ints(*blocks) {
			for _, c := range concs {
				run(file, fi.Size(), "pgzip", lv, strconv.Itoa(bs>>10)+" KiB", c, func(w io.Writer) (io.WriteCloser, error) {
					zw, err := pgzip.NewWriterLevel(w, lv)
					if err != nil {
						return nil, err
					}
					return zw, zw.SetConcurrency(bs, c)
				})
			}
		}
	}
	for _, lv := range ints(*zsLevels) {
		zc := *zconc
		if zc <= 0 {
			zc = runtime.GOMAXPROCS(0)
		}
		opts := []zstd.EOption{zstd.WithEncoderLevel(zstd.EncoderLevel(lv)), zstd.WithEncoderConcurrency(zc), zstd.WithEncoderCRC(*zcrc), zstd.WithConcurrentBlocks(*zjobs)}
		win := "default"
		if *zjobs {
			win = "jobs, default"
		}
		if *zwin > 0 {
			opts = append(opts, zstd.WithWindowSize(*zwin))
			win = strconv.Itoa(*zwin>>10) + " KiB"
			if *zjobs {
				win = "jobs, " + win
			}
		}
		run(file, fi.Size(), "zstd "+zstd.EncoderLevel(lv).String(), lv, "window "+win, zc, func(w io.Writer) (io.WriteCloser, error) {
			return zstd.NewWriter(w, opts...)
		})
	}
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad number:", f)
			os.Exit(2)
		}
		out = append(out, v)
	}
	return out
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(file string, size int64, enc string, level int, block string, conc int, open func(io.Writer) (io.WriteCloser, error)) {
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	runtime.GC()
	var out counter
	c0, t0 := cpu(), time.Now()
	zw, err := open(&out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	peak := uint64(0)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // sample the heap while compressing
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64() + s[1].Value.Uint64(); v > peak {
				peak = v
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	if _, err := io.CopyBuffer(zw, f, make([]byte, 32<<10)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := zw.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wall, used := time.Since(t0), cpu()-c0
	close(stop)
	<-done
	fmt.Printf("| %s | %d | %s | %d | %d | %.2f | %.2f | %.2f | %.0f | %.1f |\n", enc, level, block, conc, out.n,
		float64(size)/float64(out.n), wall.Seconds(), used.Seconds(), float64(size)/1e6/wall.Seconds(), float64(peak)/(1<<20))
}
